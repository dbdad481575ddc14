/**
 * A task's sandbox through the master (/ui/sandbox/<framework>/<task>/…): its files, and
 * one file (stdout by default) followed like `tail -f` while the page is open.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { getJson, type FileChunk, type FileEntry } from "../api.js";
import { bytes, dateTime } from "../format.js";
import { useInterval } from "../hooks.js";

/** How much of a file's end is shown first, and how much is kept in the page. */
const TAIL_BYTES = 64 * 1024;
const KEEP_CHARS = 1024 * 1024;
const FOLLOW_MS = 1000;

function base(frameworkId: string, taskId: string): string {
  return `/ui/sandbox/${encodeURIComponent(frameworkId)}/${encodeURIComponent(taskId)}`;
}

function FileTail(props: { url: string; path: string }) {
  const [text, setText] = useState("");
  const [error, setError] = useState<string | undefined>(undefined);
  const offset = useRef<number | undefined>(undefined);
  const busy = useRef(false);
  const pre = useRef<HTMLPreElement>(null);

  useEffect(() => {
    setText("");
    setError(undefined);
    offset.current = undefined;
  }, [props.path]);

  const read = async (): Promise<void> => {
    if (busy.current) return;
    busy.current = true;
    const q = (o: number, len?: number): string =>
      `${props.url}/read?path=${encodeURIComponent(props.path)}&offset=${o}${len === undefined ? "" : `&length=${len}`}`;
    try {
      if (offset.current === undefined) {
        const size = (await getJson<FileChunk>(q(-1))).offset;
        offset.current = Math.max(0, size - TAIL_BYTES);
      }
      const chunk = await getJson<FileChunk>(q(offset.current, TAIL_BYTES));
      if (chunk.data.length > 0) {
        offset.current = chunk.offset + new TextEncoder().encode(chunk.data).length;
        const el = pre.current;
        const atBottom = !el || el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
        setText((t) => (t + chunk.data).slice(-KEEP_CHARS));
        if (atBottom) requestAnimationFrame(() => el && (el.scrollTop = el.scrollHeight));
      }
      setError(undefined);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      busy.current = false;
    }
  };
  useInterval(() => void read(), FOLLOW_MS, [props.url, props.path]);

  return (
    <div class="file-tail">
      <h4>
        {props.path} <a href={`${props.url}/read?path=${encodeURIComponent(props.path)}&offset=0`}>raw</a>
      </h4>
      {error && <p class="warn">{error}</p>}
      <pre ref={pre} data-testid="file-content" data-path={props.path}>
        {text}
      </pre>
    </div>
  );
}

export function Sandbox(props: { frameworkId: string; taskId: string }) {
  const url = base(props.frameworkId, props.taskId);
  const [dir, setDir] = useState("");
  const [entries, setEntries] = useState<FileEntry[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [open, setOpen] = useState<string | undefined>(undefined);

  useInterval(
    () =>
      void getJson<FileEntry[]>(`${url}/browse?path=${encodeURIComponent(dir)}`).then(
        (list) => {
          setEntries(list);
          setError(undefined);
          if (dir === "") setOpen((o) => o ?? list.find((e) => e.path === "stdout")?.path);
        },
        (err: Error) => setError(err.message),
      ),
    5000,
    [url, dir],
  );

  return (
    <div class="sandbox" data-testid="sandbox">
      <h3>
        Sandbox <span class="mono">/{dir}</span> {dir && <button onClick={() => setDir(dir.split("/").slice(0, -1).join("/"))}>up</button>}
      </h3>
      {error && <p class="warn">{error}</p>}
      {entries && (
        <table class="files">
          <tbody>
            {entries.map((e) => {
              const isDir = e.mode.startsWith("d");
              const name = e.path.split("/").pop();
              return (
                <tr key={e.path}>
                  <td class="mono">{e.mode}</td>
                  <td>
                    <a
                      href="javascript:void 0"
                      data-file={e.path}
                      onClick={(ev) => {
                        ev.preventDefault();
                        if (isDir) setDir(e.path);
                        else setOpen(e.path);
                      }}
                    >
                      {name}
                      {isDir ? "/" : ""}
                    </a>
                  </td>
                  <td class="num">{isDir ? "" : bytes(e.size)}</td>
                  <td>{dateTime(e.mtime)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {open && <FileTail url={url} path={open} />}
    </div>
  );
}
