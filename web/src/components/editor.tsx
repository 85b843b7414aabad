// The code editor as a component: CodeMirror arrives in its own chunk the first time one shows.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Editor, EditorOptions } from '../lib/codemirror';

type Props = EditorOptions & { id?: string };

export function CodeEditor({ id, doc, language, label, readOnly, onChange, onSave }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<Editor | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  // The editor calls the latest handlers, not the ones it was made with.
  const handlers = useRef({ onChange, onSave });
  handlers.current = { onChange, onSave };

  useEffect(() => {
    let gone = false;
    // Edits reach the page in a task of their own, not while the browser is still handling the
    // keystroke: re-rendering the page from inside that handling crashed Chromium's renderer
    // (headless Chromium 156, reproduced by web/tests). Saving first hands over what is pending.
    let pending: string | null = null;
    let timer = 0;
    const flush = () => {
      window.clearTimeout(timer);
      if (pending !== null) {
        const text = pending;
        pending = null;
        handlers.current.onChange?.(text);
      }
    };
    import('../lib/codemirror').then(({ createEditor }) => {
      if (gone || !host.current) return;
      editor.current = createEditor(host.current, {
        doc,
        language,
        label,
        readOnly,
        onChange: (text) => {
          pending = text;
          window.clearTimeout(timer);
          timer = window.setTimeout(flush);
        },
        onSave: () => {
          flush();
          // The page saves what it holds once the edit above has been rendered into it.
          window.setTimeout(() => handlers.current.onSave?.());
        },
      });
    }, (e: Error) => setFailed(e.message));
    return () => {
      gone = true;
      flush();
      editor.current?.destroy();
      editor.current = null;
    };
  }, []);

  useEffect(() => editor.current?.setDoc(doc), [doc]);
  useEffect(() => editor.current?.setLanguage(language), [language]);

  if (failed) return <p class="notice notice-error" role="alert">The editor did not load: {failed}</p>;
  return <div id={id} class={'editor' + (readOnly ? ' editor-readonly' : '')} ref={host} />;
}
