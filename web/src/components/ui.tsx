// Small building blocks every page uses: notices, fields, badges, the confirm dialog.
import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import type { ApiError } from '../api';
import { STATUS_LABELS } from '../format';
import type { Status } from '../types';

/** An error, said where it happened. */
export function ErrorNotice({ error, title }: { error: ApiError | undefined; title?: string }) {
  if (!error) return null;
  return (
    <div class="notice notice-error" role="alert">
      {title && <strong>{title}: </strong>}
      {error.message}
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return <p class="muted" role="status">{what}…</p>;
}

/** What a page shows when it has nothing yet, and how to change that. */
export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <h2>{title}</h2>
      {children}
    </div>
  );
}

export function StatusBadge({ status }: { status: Status | null | undefined }) {
  if (!status) return <span class="muted">—</span>;
  return <span class={`badge status-${status}`}>{STATUS_LABELS[status]}</span>;
}

interface FieldProps {
  id: string;
  label: string;
  /** The API's message about this field, shown under it. */
  error?: string;
  hint?: ComponentChildren;
  children: ComponentChildren;
}

/** A labelled control with its hint and its error; the control itself is the child. */
export function Field({ id, label, error, hint, children }: FieldProps) {
  return (
    <div class={'field' + (error ? ' field-invalid' : '')}>
      <label for={id}>{label}</label>
      {children}
      {hint && !error && <p class="hint" id={`${id}-hint`}>{hint}</p>}
      {error && <p class="field-error" id={`${id}-error`} role="alert">{error}</p>}
    </div>
  );
}

/** The `aria-*` attributes that tie a control to its Field's hint or error. */
export function described(id: string, error?: string, hint?: boolean): { 'aria-invalid'?: boolean; 'aria-describedby'?: string } {
  return {
    'aria-invalid': error ? true : undefined,
    'aria-describedby': error ? `${id}-error` : hint ? `${id}-hint` : undefined,
  };
}

/** Two figures, `a / b`, each kept whole when the line breaks. */
export function Pair({ first, second }: { first: string; second: string }) {
  return <><span class="nowrap">{first}</span> / <span class="nowrap">{second}</span></>;
}

/** A summary figure. */
export function Stat({ label, value, detail }: { label: string; value: ComponentChildren; detail?: ComponentChildren }) {
  return (
    <div class="stat">
      <div class="stat-label">{label}</div>
      <div class="stat-value">{value}</div>
      {detail && <div class="stat-detail">{detail}</div>}
    </div>
  );
}

interface ConfirmProps {
  open: boolean;
  title: string;
  children: ComponentChildren;
  confirm: string;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}

/** A modal question (the browser's own <dialog>: focus is trapped, Escape cancels). */
export function Confirm({ open, title, children, confirm, busy, onConfirm, onCancel }: ConfirmProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (open && !element.open) element.showModal();
    if (!open && element.open) element.close();
  }, [open]);
  return (
    <dialog ref={dialog} class="dialog" aria-labelledby={titleId} onCancel={(e) => { e.preventDefault(); onCancel(); }}>
      <h2 id={titleId}>{title}</h2>
      <div class="dialog-body">{children}</div>
      <div class="actions">
        <button type="button" class="button" onClick={onCancel} autofocus>Cancel</button>
        <button type="button" class="button button-danger" onClick={onConfirm} disabled={busy}>
          {busy ? 'Working…' : confirm}
        </button>
      </div>
    </dialog>
  );
}

/** Copies a text to the clipboard, saying so. */
export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [said, setSaid] = useState<string | null>(null);
  useEffect(() => {
    if (!said) return undefined;
    const timer = window.setTimeout(() => setSaid(null), 2000);
    return () => window.clearTimeout(timer);
  }, [said]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setSaid('Copied');
    } catch {
      setSaid('Copying failed: select the text and copy it');
    }
  };
  return (
    <button type="button" class="button" onClick={copy} aria-live="polite">
      {said ?? label}
    </button>
  );
}

export interface Column {
  label: string;
  /** Right-aligned, tabular figures. */
  numeric?: boolean;
  /** Named for screen readers only (a column of buttons). */
  hidden?: boolean;
}

/** A data table: its columns' headings, then the rows the caller renders. */
export function Table({ columns, caption, captionHidden, children }: {
  columns: Column[];
  caption?: string;
  captionHidden?: boolean;
  children: ComponentChildren;
}) {
  return (
    <div class="table-wrap">
      <table class="table">
        {caption && <caption class={captionHidden ? 'visually-hidden' : undefined}>{caption}</caption>}
        <thead>
          <tr>
            {columns.map((column) => (
              <th key={column.label} scope="col" class={column.numeric ? 'num' : undefined}>
                {column.hidden ? <span class="visually-hidden">{column.label}</span> : column.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
