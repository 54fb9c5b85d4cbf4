{{- define "segsync.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "segsync.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The release's pods, whatever their component (never a selector on its own). */}}
{{- define "segsync.releaseLabels" -}}
app.kubernetes.io/name: {{ include "segsync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The worker pods only: the migration Job's pods (component "migrate") must stay out of
the StatefulSet, the PodDisruptionBudget and the metrics Service. Selectors cannot change
once deployed, so the component is part of them from the start. */}}
{{- define "segsync.selectorLabels" -}}
{{ include "segsync.releaseLabels" . }}
app.kubernetes.io/component: worker
{{- end -}}

{{/* Labels of every resource (add the component where there is one). */}}
{{- define "segsync.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "segsync.releaseLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "segsync.workerLabels" -}}
{{ include "segsync.labels" . }}
app.kubernetes.io/component: worker
{{- end -}}

{{- define "segsync.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "segsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "segsync.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* A hook runs before the release's own resources exist: the migration Job gets a hook
ServiceAccount of its own when the chart makes one. */}}
{{- define "segsync.migrateServiceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- printf "%s-migrate" (include "segsync.fullname" .) -}}
{{- else -}}
{{- include "segsync.serviceAccountName" . -}}
{{- end -}}
{{- end -}}

{{- define "segsync.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- include "segsync.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* Settings the chart sets itself: written in `config` they would make a second
environment entry of the same name, whichever won. */}}
{{- define "segsync.checkConfig" -}}
{{- range $name, $from := dict "SEGSYNC_METRICS_PORT" "metrics.port" "SEGSYNC_METRICS_HOST" "the chart (0.0.0.0)" "SEGSYNC_INSTANCE_ID" "the pod name (staticMembership)" }}
{{- if hasKey $.Values.config $name }}
{{- fail (printf "config.%s: set by %s; remove it from config" $name $from) }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The container's settings: the ConfigMap, the Secret, and the metrics port. */}}
{{- define "segsync.envFrom" -}}
- configMapRef:
    name: {{ include "segsync.fullname" . }}
{{- if or .Values.secrets.existingSecret .Values.secrets.values }}
- secretRef:
    name: {{ include "segsync.secretName" . }}
{{- end }}
{{- end -}}

{{- define "segsync.tlsVolume" -}}
{{- if .Values.tls.existingSecret }}
- name: tls
  secret:
    secretName: {{ .Values.tls.existingSecret }}
{{- end }}
{{- end -}}

{{- define "segsync.tlsMount" -}}
{{- if .Values.tls.existingSecret }}
- name: tls
  mountPath: {{ .Values.tls.mountPath }}
  readOnly: true
{{- end }}
{{- end -}}
