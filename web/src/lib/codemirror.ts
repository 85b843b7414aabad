// The code editor: CodeMirror 6 with Python or JavaScript highlighting, line numbers and Tab
// indentation. Loaded on its own, only by the pages that edit or show code.
import { closeBrackets, closeBracketsKeymap } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { javascript } from '@codemirror/lang-javascript';
import { python } from '@codemirror/lang-python';
import {
  bracketMatching, foldGutter, HighlightStyle, indentOnInput, indentUnit, syntaxHighlighting,
} from '@codemirror/language';
import { tags } from '@lezer/highlight';
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search';
import { Compartment, EditorState } from '@codemirror/state';
import {
  drawSelection, EditorView, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers,
} from '@codemirror/view';
import type { Language } from '../types';

export interface EditorOptions {
  doc: string;
  language: Language;
  /** The accessible name of the editing area. */
  label: string;
  readOnly?: boolean;
  onChange?: (doc: string) => void;
  onSave?: () => void;
}

export interface Editor {
  setDoc(doc: string): void;
  setLanguage(language: Language): void;
  focus(): void;
  destroy(): void;
}

/** Syntax colours that all pass WCAG AA (4.5:1) on the editor's white, unlike the default's. */
const highlighting = HighlightStyle.define([
  { tag: [tags.keyword, tags.controlKeyword, tags.definitionKeyword, tags.moduleKeyword, tags.operatorKeyword], color: '#6b21a8' },
  { tag: [tags.string, tags.character], color: '#166534' },
  { tag: [tags.special(tags.string), tags.regexp, tags.escape], color: '#9a3412' },
  { tag: [tags.number, tags.bool, tags.null, tags.atom], color: '#1e40af' },
  { tag: [tags.comment, tags.lineComment, tags.blockComment], color: '#57606a', fontStyle: 'italic' },
  { tag: [tags.function(tags.definition(tags.variableName)), tags.definition(tags.variableName)], color: '#0550ae' },
  { tag: [tags.typeName, tags.className, tags.namespace], color: '#953800' },
  { tag: [tags.propertyName, tags.attributeName], color: '#0a3069' },
  { tag: tags.invalid, color: '#b91c1c' },
]);

const languageSupport = (language: Language) => (language === 'python' ? python() : javascript());

/** The nonce this page's Content-Security-Policy allows styles with: CodeMirror makes its own. */
const styleNonce = document.querySelector<HTMLMetaElement>('meta[property="csp-nonce"]')?.nonce ?? '';

export function createEditor(parent: HTMLElement, options: EditorOptions): Editor {
  const languageSlot = new Compartment();
  const save = () => {
    options.onSave?.();
    return true;
  };
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: options.doc,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        foldGutter(),
        history(),
        drawSelection(),
        indentOnInput(),
        indentUnit.of('    '),
        syntaxHighlighting(highlighting),
        bracketMatching(),
        closeBrackets(),
        highlightActiveLine(),
        highlightSelectionMatches(),
        keymap.of([
          { key: 'Mod-s', run: save, preventDefault: true },
          ...closeBracketsKeymap,
          ...defaultKeymap,
          ...searchKeymap,
          ...historyKeymap,
          // Tab indents; Escape then Tab leaves the editor (CodeMirror's own escape hatch).
          indentWithTab,
        ]),
        languageSlot.of(languageSupport(options.language)),
        // Read-only code stays focusable, so that it can be scrolled and selected by keyboard.
        EditorState.readOnly.of(Boolean(options.readOnly)),
        EditorView.contentAttributes.of({ 'aria-label': options.label }),
        EditorView.cspNonce.of(styleNonce),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) options.onChange?.(update.state.doc.toString());
        }),
      ],
    }),
  });
  return {
    setDoc(doc) {
      if (doc !== view.state.doc.toString()) {
        view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: doc } });
      }
    },
    setLanguage(language) {
      view.dispatch({ effects: languageSlot.reconfigure(languageSupport(language)) });
    },
    focus: () => view.focus(),
    destroy: () => view.destroy(),
  };
}
