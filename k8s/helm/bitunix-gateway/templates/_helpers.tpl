{{- define "bx.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bx.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "bx.labels" -}}
app.kubernetes.io/name: {{ include "bx.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "bx.selector" -}}
app.kubernetes.io/name: {{ include "bx.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "bx.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Exchange endpoint: explicit value, else the simulator when enabled, else the binary's default (live). */}}
{{- define "bx.wsUrl" -}}
{{- if .Values.exchange.wsUrl -}}{{ .Values.exchange.wsUrl }}
{{- else if .Values.sim.enabled -}}ws://{{ include "bx.fullname" . }}-sim:{{ .Values.sim.port }}/public/
{{- end -}}
{{- end -}}
{{- define "bx.privateWsUrl" -}}
{{- if .Values.exchange.privateWsUrl -}}{{ .Values.exchange.privateWsUrl }}
{{- else if .Values.sim.enabled -}}ws://{{ include "bx.fullname" . }}-sim:{{ .Values.sim.port }}/private/
{{- end -}}
{{- end -}}
{{- define "bx.restUrl" -}}
{{- if .Values.exchange.restUrl -}}{{ .Values.exchange.restUrl }}
{{- else if .Values.sim.enabled -}}http://{{ include "bx.fullname" . }}-sim:{{ .Values.sim.port }}
{{- end -}}
{{- end -}}

{{/* The YAML config file shared by both services: endpoints + logging + per-service extras. */}}
{{- define "bx.config" -}}
{{- $root := .root -}}
log_format: {{ $root.Values.logFormat }}
log_level: {{ $root.Values.logLevel }}
{{- with include "bx.wsUrl" $root }}
ws_url: {{ . | quote }}
{{- end }}
{{- with include "bx.privateWsUrl" $root }}
private_ws_url: {{ . | quote }}
{{- end }}
{{- with include "bx.restUrl" $root }}
rest_url: {{ . | quote }}
{{- end }}
{{- range $k, $v := .extra }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end -}}

{{- define "bx.podAnnotations" -}}
{{- if .root.Values.metrics.annotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{ end -}}
checksum/config: {{ .checksum }}
{{- end -}}

{{/* Labels of the one Service per component that publishes its metrics port (ServiceMonitor selector). */}}
{{- define "bx.metricsServiceSelector" -}}
{{ include "bx.selector" . }}
bitunix-gateway/metrics: "true"
{{- end -}}
