// Every version of a function, newest first, with its settings; choosing one shows its code, and
// an old one can be restored (as a new version, as every change is).
import { useState } from 'preact/hooks';
import { api } from '../api';
import { bytes, plural, time } from '../format';
import { useAction, useLoad } from '../hooks';
import type { FunctionInfo, FunctionWithCode } from '../types';
import { CodeEditor } from './editor';
import { draftOf, inputOf } from './function-form';
import { ErrorNotice, Loading, Table } from './ui';

export function VersionList({ function: f, onRestored }: {
  function: FunctionInfo;
  onRestored: (restored: FunctionWithCode) => void;
}) {
  const versions = useLoad(() => api.versions(f.name), [f.name, f.version]);
  const [chosen, setChosen] = useState<number>(f.version);
  const shown = useLoad(() => api.version(f.name, chosen), [f.name, chosen]);
  const restore = useAction(async (version: FunctionWithCode) => {
    const checked = inputOf(draftOf(version));
    if ('input' in checked) {
      const restored = await api.updateFunction(f.name, checked.input);
      setChosen(restored.version);
      onRestored(restored);
    }
  });

  return (
    <div class="versions">
      <ErrorNotice error={versions.error} title="Cannot list the versions" />
      {!versions.data ? (!versions.error && <Loading what="Loading the versions" />) : (
        <Table caption={`Versions of ${f.name}`} captionHidden columns={[
          { label: 'Version' }, { label: 'Created' }, { label: 'Handler' }, { label: 'Runtime' },
          { label: 'Timeout', numeric: true }, { label: 'Memory', numeric: true }, { label: 'Route' },
          { label: 'Environment', numeric: true }, { label: 'Code', numeric: true },
        ]}>
          {versions.data.map((version) => (
            <tr key={version.version} class={version.version === chosen ? 'selected' : ''}>
              <th scope="row">
                <button type="button" class="link" aria-pressed={version.version === chosen}
                  onClick={() => setChosen(version.version)}>
                  Version {version.version}{version.version === f.version ? ' (current)' : ''}
                </button>
              </th>
              <td>{time(version.updated_at)}</td>
              <td><code>{version.handler}</code></td>
              <td>{version.runtime}</td>
              <td class="num">{version.timeout} s</td>
              <td class="num">{version.memory_mb} MB</td>
              <td>{version.route ? <code>{version.route}</code> : '—'}</td>
              <td class="num">{plural(Object.keys(version.env).length, 'variable')}</td>
              <td class="num">{bytes(version.code_size)}</td>
            </tr>
          ))}
        </Table>
      )}
      <ErrorNotice error={shown.error} title={`Cannot read version ${chosen}`} />
      {shown.data && shown.data.version === chosen && (
        <div class="version-code">
          <div class="page-head">
            <h2>Version {chosen}</h2>
            {chosen !== f.version && (
              <button type="button" class="button" aria-disabled={restore.busy}
                onClick={() => { if (!restore.busy && shown.data) restore.run(shown.data); }}>
                Restore version {chosen}
              </button>
            )}
          </div>
          <ErrorNotice error={restore.error} title="Not restored" />
          <p class="muted">
            {shown.data.language === 'python' ? 'Python' : 'JavaScript'} · sha256 <code>{shown.data.code_sha256.slice(0, 12)}</code>
            {chosen !== f.version && ' · restoring makes its code and settings a new version'}
          </p>
          <CodeEditor key={chosen} doc={shown.data.code} language={shown.data.language} readOnly
            label={`Code of version ${chosen} (read only)`} />
        </div>
      )}
    </div>
  );
}
