{{/*
Expand the name of the chart.
*/}}
{{- define "braze-bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name (truncated to 63 chars, the DNS label limit).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "braze-bridge.fullname" -}}
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

{{/*
Chart name and version as used by the chart label.
*/}}
{{- define "braze-bridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "braze-bridge.labels" -}}
helm.sh/chart: {{ include "braze-bridge.chart" . }}
{{ include "braze-bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: bridge
app.kubernetes.io/part-of: braze-kafka-bridge
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: name and instance only, so they never change across upgrades.
*/}}
{{- define "braze-bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "braze-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the service account to use.
*/}}
{{- define "braze-bridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "braze-bridge.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository:tag, or repository:tag@digest when a digest is given
(the runtime then pulls by digest; the tag is informational).
*/}}
{{- define "braze-bridge.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion | toString }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding the Braze API key ("" when none is configured).
*/}}
{{- define "braze-bridge.secretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else if .Values.apiKey }}
{{- include "braze-bridge.fullname" . }}
{{- end }}
{{- end }}

{{/*
Whether the chart creates the API key Secret itself.
*/}}
{{- define "braze-bridge.createSecret" -}}
{{- if and .Values.apiKey (not .Values.existingSecret) }}true{{- end }}
{{- end }}

{{/*
Rendered config.yaml (the ConfigMap content; also hashed into checksum/config).
*/}}
{{- define "braze-bridge.configYaml" -}}
{{- toYaml .Values.config }}
{{- end }}

{{/*
Port the bridge serves /metrics, /healthz and /readyz on (config.observability.port).
*/}}
{{- define "braze-bridge.metricsPort" -}}
{{- $obs := .Values.config.observability | default dict }}
{{- $obs.port | default 9102 | int }}
{{- end }}

{{/*
Drain deadline after SIGTERM (config.shutdown.drain_deadline_s, default 25).
*/}}
{{- define "braze-bridge.drainDeadline" -}}
{{- $shutdown := .Values.config.shutdown | default dict }}
{{- $shutdown.drain_deadline_s | default 25 | int }}
{{- end }}

{{/*
terminationGracePeriodSeconds: explicit value, or drain deadline + 10 s so the bridge can
flush in-flight batches and store offsets before SIGKILL.
*/}}
{{- define "braze-bridge.terminationGracePeriodSeconds" -}}
{{- $drain := include "braze-bridge.drainDeadline" . | int }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $drain 10 }}
{{- else }}
{{- .Values.terminationGracePeriodSeconds | int }}
{{- end }}
{{- end }}

{{/*
Topics consumed by the bridge: keda.topics, else the distinct `topic` of every config rule.
Returned as a JSON list (use with fromJsonArray).
*/}}
{{- define "braze-bridge.topics" -}}
{{- $topics := list }}
{{- $kafkaTopics := dig "kafka" "topics" list (.Values.config | default dict) }}
{{- if .Values.keda.topics }}
{{- $topics = .Values.keda.topics }}
{{- else if $kafkaTopics }}
{{- $topics = $kafkaTopics }}
{{- else }}
{{- range (.Values.config.rules | default list) }}
{{- if and (kindIs "map" .) .topic (ne (toString (dig "enabled" true .)) "false") }}
{{- $topics = append $topics (toString .topic) }}
{{- end }}
{{- end }}
{{- end }}
{{- $topics | uniq | toJson }}
{{- end }}

{{/*
Label matchers selecting this release's series in alert expressions.
*/}}
{{- define "braze-bridge.metricSelector" -}}
{{- if .Values.prometheusRule.metricSelector }}
{{- .Values.prometheusRule.metricSelector }}
{{- else }}
{{- printf "job=%q, namespace=%q" (include "braze-bridge.fullname" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/*
Render-time validation; included by the Deployment so any invalid combination fails
`helm template` / `helm install` with a clear message.
*/}}
{{- define "braze-bridge.validate" -}}
{{- if and .Values.autoscaling.enabled .Values.keda.enabled }}
{{- fail "autoscaling.enabled and keda.enabled are mutually exclusive: KEDA creates its own HPA for the Deployment. Enable only one." }}
{{- end }}
{{- $braze := .Values.config.braze | default dict }}
{{- if $braze.api_key }}
{{- if not (regexMatch "^\\$\\{[^}]+\\}$" (toString $braze.api_key)) }}
{{- fail "config.braze.api_key must be a reference like ${BRAZE_API_KEY} or ${file:/path}, never the key itself: the config is stored in a ConfigMap. Put the key in apiKey or existingSecret." }}
{{- end }}
{{- end }}
{{- range $k, $v := (dig "kafka" "properties" dict (.Values.config | default dict)) }}
{{- if and (regexMatch "(?i)(password|secret|token|\\.key$|key\\.pem|credentials|sasl\\.jaas\\.config)" $k) (not (regexMatch "(?i)location" $k)) (not (regexMatch "^\\$\\{[^}]+\\}$" (toString $v))) }}
{{- fail (printf "config.kafka.properties.%s looks like a credential: use a ${ENV_VAR} or ${file:/path} reference, not the value (the config is stored in a ConfigMap)." $k) }}
{{- end }}
{{- end }}
{{- /* Every other secret field of the bridge's config (SecretStr in bridge/settings.py). */ -}}
{{- $registry := (.Values.config | default dict).schema_registry | default dict }}
{{- range $name := list "password" "bearer_token" }}
{{- $v := get $registry $name }}
{{- if and $v (not (regexMatch "^\\$\\{[^}]+\\}$" (toString $v))) }}
{{- fail (printf "config.schema_registry.%s looks like a credential: use a ${ENV_VAR} or ${file:/path} reference, not the value (the config is stored in a ConfigMap)." $name) }}
{{- end }}
{{- end }}
{{- if .Values.keda.enabled }}
{{- range $t := include "braze-bridge.topics" . | fromJsonArray }}
{{- if hasPrefix "^" $t }}
{{- fail (printf "keda.enabled: topic %q is a regular expression, but KEDA's kafka scaler needs literal topic names. Set keda.topics to the topics to scale on (literal names)." $t) }}
{{- end }}
{{- end }}
{{- end }}
{{- $drain := include "braze-bridge.drainDeadline" . | int }}
{{- $grace := include "braze-bridge.terminationGracePeriodSeconds" . | int }}
{{- if le $grace $drain }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be larger than config.shutdown.drain_deadline_s (%d), or the bridge is killed mid-drain." $grace $drain) }}
{{- end }}
{{- if and .Values.keda.enabled (eq (len (include "braze-bridge.topics" . | fromJsonArray)) 0) }}
{{- fail "keda.enabled needs at least one topic: set keda.topics or give config.rules a topic." }}
{{- end }}
{{- if and .Values.keda.enabled (gt (int .Values.keda.minReplicaCount) (int .Values.keda.maxReplicaCount)) }}
{{- fail "keda.minReplicaCount must not exceed keda.maxReplicaCount." }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas." }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not (dig "requests" "cpu" "" (.Values.resources | default dict))) }}
{{- fail "autoscaling (HPA on CPU utilization) needs resources.requests.cpu: utilization is measured against the request." }}
{{- end }}
{{- end }}
