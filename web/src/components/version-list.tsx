// Every version of a function, newest first; choosing one shows its code and settings.
import { useState } from 'preact/hooks';
import { api } from '../api';
import { bytes, time } from '../format';
import { useLoad } from '../hooks';
import type { FunctionInfo } from '../types';
import { CodeEditor } from './editor';
import { ErrorNotice, Loading, Table } from './ui';

export function VersionList({ function: f }: { function: FunctionInfo }) {
  const versions = useLoad(() => api.versions(f.name), [f.name, f.version]);
  const [chosen, setChosen] = useState<number>(f.version);
  const shown = useLoad(() => api.version(f.name, chosen), [f.name, chosen]);

  return (
    <div class="versions">
      <ErrorNotice error={versions.error} title="Cannot list the versions" />
      {!versions.data ? (!versions.error && <Loading what="Loading the versions" />) : (
        <Table caption={`Versions of ${f.name}`} captionHidden columns={[
          { label: 'Version' }, { label: 'Created' }, { label: 'Handler' }, { label: 'Runtime' },
          { label: 'Code', numeric: true },
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
                  <td class="num">{bytes(version.code_size)}</td>
                </tr>
              ))}
        </Table>
      )}
      <ErrorNotice error={shown.error} title={`Cannot read version ${chosen}`} />
      {shown.data && shown.data.version === chosen && (
        <div class="version-code">
          <h2>Version {chosen}</h2>
          <p class="muted">
            {shown.data.language === 'python' ? 'Python' : 'JavaScript'} · timeout {shown.data.timeout} s · {shown.data.memory_mb} MB
            · {Object.keys(shown.data.env).length} environment variables · sha256 <code>{shown.data.code_sha256.slice(0, 12)}</code>
          </p>
          <CodeEditor key={chosen} doc={shown.data.code} language={shown.data.language} readOnly
            label={`Code of version ${chosen} (read only)`} />
        </div>
      )}
    </div>
  );
}
