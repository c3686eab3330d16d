/**
 * Whether OpenTelemetry's own variables ask for traces, read the way the SDK reads them
 * (OTEL_TRACES_EXPORTER's first entry `none` turns it off; unset, the SDK's default exporter
 * is otlp, so an OTLP endpoint alone asks for traces). Nothing asked means nothing loaded:
 * no SDK, no loader hooks, and the API calls in the code stay no-ops.
 */
export function tracesRequested (env: NodeJS.ProcessEnv): boolean {
  if (/^\s*true\s*$/i.test(env.OTEL_SDK_DISABLED ?? '')) return false
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((name) => name.trim()).filter((name) => name !== '' && name !== 'null')
  if (exporters.length > 0) return exporters[0] !== 'none'
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim())
}
