import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  readonly label: string;
  readonly color: string;
  readonly values: readonly (number | null)[];
}

interface Props {
  /** Read by screen readers in place of the canvas. */
  readonly title: string;
  /** Epoch seconds of each point. */
  readonly times: readonly number[];
  readonly series: readonly ChartSeries[];
  readonly unit: string;
}

/** A uPlot time-series chart that follows its container's width; the canvas is described by a text summary. */
export function Chart({ title, times, series, unit }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const shape = series.map((s) => s.label).join('|');

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height: 220,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, value: (_u: uPlot, v: number | null) => (v === null ? '–' : `${v} ${unit}`) }))],
      axes: [{}, { label: unit, size: 60 }],
      scales: { x: { time: true } },
      legend: { live: true },
    };
    const u = new uPlot(opts, [times.slice(), ...series.map((s) => s.values.slice())] as uPlot.AlignedData, el);
    plot.current = u;
    const observer = new ResizeObserver(() => u.setSize({ width: Math.max(280, el.clientWidth), height: 220 }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      u.destroy();
      plot.current = undefined;
    };
    // Rebuilt only when the set of series changes; new points go through setData below.
  }, [shape, unit]);

  useEffect(() => {
    plot.current?.setData([times.slice(), ...series.map((s) => s.values.slice())] as uPlot.AlignedData);
  }, [times, series]);

  const last = series.map((s) => `${s.label}: ${s.values.at(-1) ?? '–'} ${unit}`).join(', ');
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} role="img" aria-label={`${title}. Latest: ${last}`} />
    </figure>
  );
}
