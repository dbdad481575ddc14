/**
 * What the pages show, kept live: the master's /state (from the SUBSCRIBED event of the
 * /events stream, then fetched again shortly after events that change it), the latest
 * events for the feed, and the resource series (the master's last hour, then a sample per
 * poll). Pages subscribe and re-render on every change.
 */
import { getJson, type EventJson, type ResourceHistoryJson, type ResourceSample, type StateJson } from "./api.js";
import { ResourceSeries } from "./series.js";

export type Connection = "connecting" | "live" | "down";

/** The named events of /events (the server sends `event: <TYPE>`). */
export const EVENT_TYPES = [
  "TASK_ADDED",
  "TASK_UPDATED",
  "AGENT_ADDED",
  "AGENT_REMOVED",
  "FRAMEWORK_ADDED",
  "FRAMEWORK_UPDATED",
  "FRAMEWORK_REMOVED",
  "OFFERS_MADE",
  "OFFERS_DECLINED",
  "OFFER_RESCINDED",
  "STATUS_UPDATE",
  "LEADER_CHANGED",
] as const;

const MAX_EVENTS = 500;
const RESOURCE_POLL_MS = 5000;
/** Events come in bursts (an offer cycle): one /state fetch per burst, spaced by at least
 * this or twice the last fetch's duration (a large cluster's /state is megabytes). */
const REFRESH_DELAY_MS = 250;
const MIN_REFRESH_GAP_MS = 1000;
const RECONNECT_MS = 2000;

export class Store {
  state: StateJson | undefined;
  /** Newest first. */
  events: EventJson[] = [];
  connection: Connection = "connecting";
  error: string | undefined;
  readonly series = new ResourceSeries(60 * 60 * 1000);
  /** Bumped on every change (charts redraw when it moves). */
  version = 0;

  private readonly listeners = new Set<() => void>();
  private source: EventSource | undefined;
  private refreshTimer: number | undefined;
  private refreshing = false;
  private refreshAgain = false;
  /** Earliest time the next /state fetch may start. */
  private nextRefreshAt = 0;

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  start(): void {
    this.connect();
    void this.loadRecentEvents();
    void this.loadHistory();
    setInterval(() => void this.pollResources(), RESOURCE_POLL_MS);
  }

  private changed(): void {
    this.version++;
    for (const l of this.listeners) l();
  }

  private connect(): void {
    const source = (this.source = new EventSource("/events"));
    source.addEventListener("SUBSCRIBED", (m) => {
      this.state = (JSON.parse((m as MessageEvent<string>).data) as { state: StateJson }).state;
      this.connection = "live";
      this.error = undefined;
      this.changed();
    });
    for (const type of EVENT_TYPES) source.addEventListener(type, (m) => this.onEvent(JSON.parse((m as MessageEvent<string>).data) as EventJson));
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        this.connection = "down";
        this.error = "The event stream closed; reconnecting";
        setTimeout(() => this.connect(), RECONNECT_MS);
      } else {
        this.connection = "connecting";
      }
      this.changed();
    };
  }

  private onEvent(e: EventJson): void {
    this.followLeader(e);
    this.addEvents([e]);
    this.scheduleRefresh();
    this.changed();
  }

  /** When another master starts leading, load `/` again: this master redirects to the leader's UI. */
  private followLeader(e: EventJson): void {
    if (e.type !== "LEADER_CHANGED") return;
    const leader = (e.leaderChanged as { leader?: { pid?: string } } | undefined)?.leader;
    if (leader?.pid && this.state && leader.pid !== this.state.pid) {
      this.error = `${leader.pid} leads now; going to its UI`;
      setTimeout(() => window.location.assign("/"), RECONNECT_MS);
    }
  }

  /** Adds events to the feed, newest first, each sequence number once. */
  private addEvents(events: EventJson[]): void {
    const seen = new Set(this.events.map((e) => e.sequence));
    this.events.push(...events.filter((e) => !seen.has(e.sequence)));
    this.events.sort((a, b) => b.sequence - a.sequence);
    if (this.events.length > MAX_EVENTS) this.events.length = MAX_EVENTS;
  }

  private async loadRecentEvents(): Promise<void> {
    try {
      this.addEvents((await getJson<{ events: EventJson[] }>("/ui/events/recent")).events);
      this.changed();
    } catch (err) {
      this.error = `Could not read the recent events: ${(err as Error).message}`;
      this.changed();
    }
  }

  private scheduleRefresh(): void {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    if (this.refreshTimer !== undefined) return;
    const delay = Math.max(REFRESH_DELAY_MS, this.nextRefreshAt - Date.now());
    this.refreshTimer = window.setTimeout(() => void this.refresh(), delay);
  }

  private async refresh(): Promise<void> {
    this.refreshTimer = undefined;
    this.refreshing = true;
    const started = Date.now();
    try {
      this.state = await getJson<StateJson>("/state");
      this.error = undefined;
    } catch (err) {
      this.error = `Could not read /state: ${(err as Error).message}`;
    } finally {
      this.refreshing = false;
      this.nextRefreshAt = Date.now() + Math.max(MIN_REFRESH_GAP_MS, 2 * (Date.now() - started));
    }
    this.changed();
    if (this.refreshAgain) {
      this.refreshAgain = false;
      this.scheduleRefresh();
    }
  }

  private async loadHistory(): Promise<void> {
    try {
      const h = await getJson<ResourceHistoryJson>("/ui/resources/history");
      this.series.windowMs = h.window_ms;
      this.series.load(h.samples);
      this.changed();
    } catch (err) {
      this.error = `Could not read the resource history: ${(err as Error).message}`;
      this.changed();
    }
  }

  private async pollResources(): Promise<void> {
    try {
      if (this.series.add(await getJson<ResourceSample>("/ui/resources"))) this.changed();
    } catch {
      // The event stream reports a master that is down; a lost sample is only a gap.
    }
  }
}

export const store = new Store();
