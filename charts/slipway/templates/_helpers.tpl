{{/* Chart name, overridable. */}}
{{- define "slipway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-wide name; component objects append the service name to it. */}}
{{- define "slipway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of one service's objects; takes (dict "root" $ "component" "<service>"). */}}
{{- define "slipway.componentName" -}}
{{- $base := include "slipway.fullname" .root | trunc 46 | trimSuffix "-" }}
{{- printf "%s-%s" $base .component }}
{{- end }}

{{- define "slipway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one service; takes (dict "root" $ "component" "<service>"). */}}
{{- define "slipway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "slipway.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Common labels; takes (dict "root" $ "component" "<service>"). */}}
{{- define "slipway.labels" -}}
helm.sh/chart: {{ include "slipway.chart" .root }}
{{ include "slipway.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: slipway
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{- define "slipway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "slipway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The ServiceAccount one service's pods run under; takes (dict "root" $ "component" "<service>").
The workload-manager has its own when rbac.create is set (its roles are bound to it), the
others share the chart's.
*/}}
{{- define "slipway.podServiceAccountName" -}}
{{- if and (eq .component "workload-manager") .root.Values.rbac.create }}
{{- include "slipway.componentName" . }}
{{- else }}
{{- include "slipway.serviceAccountName" .root }}
{{- end }}
{{- end }}

{{/* The Secret holding SLIPWAY_NATS_URL and SLIPWAY_MONGODB_URI. */}}
{{- define "slipway.connectionsSecret" -}}
{{- default (printf "%s-connections" (include "slipway.fullname" .)) .Values.existingSecret }}
{{- end }}

{{/* The image of one service, always pinned; takes (dict "root" $ "component" "<service>"). */}}
{{- define "slipway.image" -}}
{{- $image := .root.Values.image }}
{{- $tag := default .root.Chart.AppVersion $image.tag | toString }}
{{- if eq $tag "latest" }}
{{- fail "image.tag must pin a version: \"latest\" is not allowed" }}
{{- end }}
{{- printf "%s%s/%s:%s" $image.registry $image.repository .component $tag }}
{{- end }}
