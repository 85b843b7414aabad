// The frame of every signed-in page: the navigation, who is signed in, and the page itself.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import type { Route } from '../router';
import { useSession } from '../session';

const SECTIONS = [
  { path: 'functions', label: 'Functions', also: ['new-function'] },
  { path: 'invocations', label: 'Invocations', also: [] },
  { path: 'metrics', label: 'Metrics', also: [] },
  { path: 'system', label: 'System', also: [] },
  { path: 'account', label: 'Account', also: [] },
];

export function Layout({ route, onSignOut, children }: {
  route: Route;
  onSignOut: () => void;
  children: ComponentChildren;
}) {
  const session = useSession();
  const main = useRef<HTMLElement>(null);
  const section = route.parts[0] ?? 'functions';
  // A new page moves the focus to its content, as a page load would (for screen readers); a
  // section of the same page (a function's tabs) keeps it where it is.
  const page = route.parts.slice(0, 2).join('/');
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus({ preventScroll: true });
  }, [page]);

  return (
    <div class="app">
      <a class="skip-link" href="#main" onClick={(e) => { e.preventDefault(); main.current?.focus(); }}>
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="#/functions" aria-label="Kindling, functions">
          <svg class="brand-mark" viewBox="0 0 32 32" aria-hidden="true">
            <path d="M16 3c1 5 7 8 7 15a7 7 0 0 1-14 0c0-4 2-6 3-8 1 3 2 4 3 4 0-4 0-7 1-11z" />
          </svg>
          Kindling
        </a>
        <nav aria-label="Sections">
          <ul>
            {SECTIONS.map(({ path, label, also }) => {
              const here = section === path || also.includes(section);
              return (
                <li key={path}>
                  <a href={`#/${path}`} aria-current={here ? 'page' : undefined}>{label}</a>
                </li>
              );
            })}
          </ul>
        </nav>
        <div class="who">
          <span class="who-name">
            {session.user.username}
            {session.user.admin && <span class="badge badge-quiet">admin</span>}
          </span>
          {session.auth
            ? <button type="button" class="button button-quiet" onClick={onSignOut}>Sign out</button>
            : <span class="badge badge-warn" title="The server runs with --no-auth">no authentication</span>}
        </div>
      </header>
      <main id="main" ref={main} tabIndex={-1}>{children}</main>
    </div>
  );
}
