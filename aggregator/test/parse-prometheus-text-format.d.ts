// Types for the test-only parser (the package ships none).
declare module 'parse-prometheus-text-format' {
  interface PromMetric {
    value?: string;
    labels?: Record<string, string>;
  }
  interface PromFamily {
    name: string;
    help: string;
    type: 'COUNTER' | 'GAUGE' | 'SUMMARY' | 'HISTOGRAM' | 'UNTYPED';
    metrics: PromMetric[];
  }
  function parsePrometheusTextFormat(text: string): PromFamily[];
  export = parsePrometheusTextFormat;
}
