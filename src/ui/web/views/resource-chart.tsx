/** One resource over the last hour, used against total, drawn by uPlot. */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { resourceValue, round } from "../format.js";
import type { Columns, ResourceKind, ResourceSeries } from "../series.js";

const TITLES: Record<ResourceKind, string> = { cpus: "CPUs", mem: "Memory", disk: "Disk" };
/** Plotted in CPUs and GB (Mesos counts mem and disk in MB), so the axis gets round ticks. */
const UNITS: Record<ResourceKind, { per: number; unit: string }> = { cpus: { per: 1, unit: "" }, mem: { per: 1024, unit: " GB" }, disk: { per: 1024, unit: " GB" } };

const MIN_SPAN_S = 5 * 60;

/** From the first sample (or MIN_SPAN_S before the last) to the last, read from the data. */
function xRange(u: uPlot, min: number, max: number): uPlot.Range.MinMax {
  const t = u.data[0];
  if (t.length === 0) return [min, max];
  const last = t[t.length - 1]!;
  return [Math.min(t[0]!, last - MIN_SPAN_S), last];
}

function plotted(series: ResourceSeries, kind: ResourceKind): Columns {
  const [t, used, total] = series.columns(kind);
  const per = UNITS[kind].per;
  return [t, used.map((v) => v / per), total.map((v) => v / per)];
}

function options(kind: ResourceKind, width: number): uPlot.Options {
  const fmt = (v: number): string => `${round(v)}${UNITS[kind].unit}`;
  return {
    width,
    height: 170,
    legend: { show: true, live: false },
    cursor: { drag: { x: false, y: false } },
    // At least the last MIN_SPAN_S seconds, so a young cluster's few samples do not span years.
    scales: { x: { time: true, range: xRange }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
    axes: [{}, { size: 70, values: (_u, ticks) => ticks.map(fmt) }],
    series: [
      {},
      { label: "used", stroke: "#1f77b4", width: 2, fill: "rgba(31,119,180,0.15)", value: (_u, v) => (v == null ? "–" : fmt(v)) },
      { label: "total", stroke: "#888", width: 1, dash: [5, 4], value: (_u, v) => (v == null ? "–" : fmt(v)) },
    ],
  };
}

export function ResourceChart(props: { kind: ResourceKind; series: ResourceSeries; version: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);

  useEffect(() => {
    const el = box.current!;
    const u = new uPlot(options(props.kind, Math.max(200, el.clientWidth)), plotted(props.series, props.kind), el);
    plot.current = u;
    const resize = (): void => u.setSize({ width: Math.max(200, el.clientWidth), height: 170 });
    window.addEventListener("resize", resize);
    return () => {
      window.removeEventListener("resize", resize);
      u.destroy();
      plot.current = undefined;
    };
  }, [props.kind]);

  useEffect(() => {
    plot.current?.setData(plotted(props.series, props.kind));
  }, [props.version, props.kind]);

  const latest = props.series.latest();
  const used = latest ? latest[`${props.kind}Used`] : 0;
  const total = latest ? latest[`${props.kind}Total`] : 0;
  return (
    <section class="chart" data-testid={`chart-${props.kind}`}>
      <h3>
        {TITLES[props.kind]} <small>{resourceValue(props.kind, used)} of {resourceValue(props.kind, total)} used</small>
      </h3>
      <div ref={box} class="plot" />
    </section>
  );
}
