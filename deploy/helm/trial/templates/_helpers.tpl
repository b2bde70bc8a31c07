{{/*
Shared pieces of every workload. The chart keeps to the template subset documented in
tests/deploy/gotemplate.py (the renderer the tests use where helm is not installed).
*/}}

{{- define "trial.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "trial.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "trial.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{ .Values.secrets.existingSecret }}
{{- else -}}
{{ .Release.Name }}-secrets
{{- end -}}
{{- end }}

{{/* Pods restart when the configuration or the secrets given to the chart change. */}}
{{- define "trial.podAnnotations" -}}
checksum/config: {{ toYaml .Values.config | sha256sum }}
checksum/secrets: {{ toYaml .Values.secrets | sha256sum }}
{{- end }}

{{- define "trial.podSecurity" -}}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- if .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml .Values.imagePullSecrets | nindent 2 }}
{{- end }}
{{- end }}

{{/* Image, security, environment: the same for web, workers, beat and the migration. */}}
{{- define "trial.container" -}}
image: {{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
envFrom:
  - configMapRef:
      name: {{ .Release.Name }}-config
  - secretRef:
      name: {{ include "trial.secretName" . }}
{{- end }}

{{/*
The root filesystem is read-only: /tmp and TRIAL_VAR_DIR are per-pod scratch space, and
MEDIA_ROOT is the shared volume.
*/}}
{{- define "trial.volumes" -}}
- name: tmp
  emptyDir: {}
- name: var
  emptyDir: {}
{{- if .Values.media.persistence.enabled }}
- name: media
  persistentVolumeClaim:
    claimName: {{ .Release.Name }}-media
{{- else }}
- name: media
  emptyDir: {}
{{- end }}
{{- end }}

{{- define "trial.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: var
  mountPath: /var/lib/trial
- name: media
  mountPath: /var/lib/trial/media
{{- end }}
