// Pages live behind the URL's fragment (#/functions/hello), so that no dashboard path can ever
// shadow an API route and the server serves one page for all of them.
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  /** The page's path, e.g. `/functions/hello`. */
  path: string;
  /** Its parts, decoded: `['functions', 'hello']`. */
  parts: string[];
  params: URLSearchParams;
}

function current(): Route {
  const [fragment, search = ''] = window.location.hash.replace(/^#/, '').split('?');
  const path = fragment.replace(/^\/*$/, '') || '/functions';
  const parts = path.split('/').filter(Boolean).map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  });
  return { path, parts, params: new URLSearchParams(search) };
}

/**
 * Asked before the page changes to another route; answering `false` keeps the page (and puts
 * the address back). A page with unsaved changes sets one while it has them.
 */
let leaveGuard: ((next: Route) => boolean) | null = null;

export function useLeaveGuard(guard: ((next: Route) => boolean) | null) {
  useEffect(() => {
    leaveGuard = guard;
    return () => {
      if (leaveGuard === guard) leaveGuard = null;
    };
  }, [guard]);
}

/** The current route; re-renders when it changes. */
export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    let shown = window.location.href;
    const changed = () => {
      const next = current();
      if (leaveGuard && !leaveGuard(next)) {
        window.history.replaceState(null, '', shown);
        return;
      }
      shown = window.location.href;
      setRoute(next);
    };
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}

/** A link target for a page: `href('functions', name)` → `#/functions/<name>`. */
export function href(...parts: (string | number)[]): string {
  return '#/' + parts.map((part) => encodeURIComponent(String(part))).join('/');
}

export function navigate(target: string, replace = false) {
  if (replace) {
    window.location.replace(target);
  } else {
    window.location.hash = target.replace(/^#/, '');
  }
}
