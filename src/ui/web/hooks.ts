/** Preact hooks: re-render on store changes; the current hash route. */
import { useEffect, useState } from "preact/hooks";
import { store, type Store } from "./store.js";

export function useStore(): Store {
  const [, setTick] = useState(0);
  useEffect(() => store.subscribe(() => setTick((n) => n + 1)), []);
  return store;
}

/** "#/frameworks/abc" → ["frameworks", "abc"] (decoded). */
export function parseRoute(hash: string): string[] {
  return hash
    .replace(/^#\/?/, "")
    .split("/")
    .filter((p) => p !== "")
    .map((p) => decodeURIComponent(p));
}

export function useRoute(): string[] {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = (): void => setRoute(parseRoute(location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

/** Runs `fn` now and every `ms` while the component is shown (and `deps` unchanged). */
export function useInterval(fn: () => void, ms: number, deps: unknown[]): void {
  useEffect(() => {
    fn();
    const handle = setInterval(fn, ms);
    return () => clearInterval(handle);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
}
