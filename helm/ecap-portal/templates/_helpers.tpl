{{/* Names, labels and the pieces every pod of the portal shares. */}}

{{- define "ecap.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ecap.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ecap.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "ecap.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ecap
ecap.example/environment: {{ .Values.environment }}
{{- end -}}

{{/* Selector labels of one component (web, worker-critical, beat, migrate, ...). Call with (dict "ctx" $ "component" "web"). */}}
{{- define "ecap.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ecap.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ecap.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ecap.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image reference: a digest wins over a tag; the tag defaults to the chart's appVersion. */}}
{{- define "ecap.image" -}}
{{- $image := .image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .ctx.Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Kubernetes Secret names follow ecap-<part>-<environment>. */}}
{{- define "ecap.secretName" -}}
{{- printf "ecap-%s-%s" .part .ctx.Values.environment -}}
{{- end -}}

{{- define "ecap.allowedHosts" -}}
{{- $hosts := .Values.django.allowedHosts -}}
{{- if not $hosts -}}{{- $hosts = .Values.ingress.hosts -}}{{- end -}}
{{- join "," $hosts -}}
{{- end -}}

{{/* Environment of every portal container. Call with (dict "ctx" $ "hook" false). */}}
{{- define "ecap.env" -}}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
# Kubelet probes and Prometheus address the pod by its IP, so the pod's own address is an allowed host too.
- name: DJANGO_ALLOWED_HOSTS
  value: {{ printf "%s,$(POD_IP)" (include "ecap.allowedHosts" .ctx) | trimPrefix "," | quote }}
{{- end -}}

{{- define "ecap.envFrom" -}}
{{- $ctx := .ctx -}}
{{- if .hook }}
- configMapRef:
    name: {{ include "ecap.fullname" $ctx }}-migrate
- secretRef:
    name: {{ include "ecap.secretName" (dict "ctx" $ctx "part" "migrate") }}
{{- else }}
- configMapRef:
    name: {{ include "ecap.fullname" $ctx }}
- secretRef:
    name: {{ include "ecap.secretName" (dict "ctx" $ctx "part" "app") }}
- secretRef:
    name: {{ include "ecap.secretName" (dict "ctx" $ctx "part" "database") }}
- secretRef:
    name: {{ include "ecap.secretName" (dict "ctx" $ctx "part" "redis") }}
{{- end }}
{{- end -}}

{{/* The non-secret settings of the ConfigMap (also rendered into the migration hook's own ConfigMap). */}}
{{- define "ecap.configData" -}}
PORTAL_ENVIRONMENT: {{ .Values.environment | quote }}
DJANGO_SETTINGS_MODULE: "ecap_site.settings.prod"
DJANGO_CSRF_TRUSTED_ORIGINS: {{ include "ecap.csrfOrigins" . | quote }}
LOG_LEVEL: {{ .Values.django.logLevel | quote }}
LOG_FORMAT: "json"
LOG_LAYOUT: {{ .Values.django.logLayout | default "default" | quote }}
{{- with .Values.tracing }}
{{- if .otlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ .otlpEndpoint | quote }}
OTEL_SERVICE_NAME: {{ .serviceName | default "ecap-portal" | quote }}
OTEL_TRACES_SAMPLER_ARG: {{ .sampleRatio | default "1" | toString | quote }}
{{- end }}
{{- end }}
API_NUM_PROXIES: {{ .Values.django.apiNumProxies | quote }}
DATABASE_CONN_MAX_AGE: {{ .Values.django.databaseConnMaxAge | quote }}
PORTAL_VAR_DIR: "/tmp/ecap"
PORTAL_SECRETS_DIR: "/var/run/secrets/ecap"
{{- if .Values.vault.enabled }}
VAULT_ADDR: {{ required "vault.addr is required when vault.enabled" .Values.vault.addr | quote }}
VAULT_AUTH_METHOD: {{ .Values.vault.authMethod | quote }}
VAULT_KUBERNETES_ROLE: {{ .Values.vault.role | quote }}
VAULT_KV_MOUNT: {{ .Values.vault.kvMount | quote }}
{{- with .Values.vault.namespace }}
VAULT_NAMESPACE: {{ . | quote }}
{{- end }}
{{- if .Values.vault.caConfigMap }}
VAULT_CACERT: "/etc/ecap/vault-ca/ca.crt"
{{- end }}
{{- end }}
{{- range $section, $keys := .Values.config }}
{{- range $key, $value := $keys }}
{{ printf "ECAP_%s__%s" ($section | upper) ($key | upper) }}: {{ if or (kindIs "map" $value) (kindIs "slice" $value) }}{{ toJson $value | quote }}{{ else }}{{ $value | toString | quote }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "ecap.csrfOrigins" -}}
{{- $origins := .Values.django.csrfTrustedOrigins -}}
{{- if not $origins -}}
{{- $list := list -}}
{{- range .Values.ingress.hosts -}}{{- $list = append $list (printf "https://%s" .) -}}{{- end -}}
{{- $origins = $list -}}
{{- end -}}
{{- join "," $origins -}}
{{- end -}}

{{- define "ecap.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end -}}

{{- define "ecap.containerSecurityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end -}}

{{/* Writable scratch space on a read-only root filesystem, and the optional secret files and Vault CA. */}}
{{- define "ecap.volumes" -}}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- if .Values.externalSecrets.secretsAsFiles }}
- name: portal-secrets
  secret:
    secretName: {{ include "ecap.secretName" (dict "ctx" . "part" "secrets") }}
    defaultMode: 0400
    # Optional so that the migration hook of a first install starts before the sync; the portal itself refuses
    # to encrypt or decrypt without its keyring, loudly.
    optional: true
{{- end }}
{{- if and .Values.vault.enabled .Values.vault.caConfigMap }}
- name: vault-ca
  configMap:
    name: {{ .Values.vault.caConfigMap }}
{{- end }}
{{- end -}}

{{- define "ecap.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.externalSecrets.secretsAsFiles }}
- name: portal-secrets
  mountPath: /var/run/secrets/ecap
  readOnly: true
{{- end }}
{{- if and .Values.vault.enabled .Values.vault.caConfigMap }}
- name: vault-ca
  mountPath: /etc/ecap/vault-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* Node placement; spreads a component's pods over zones when topologySpread is on. */}}
{{- define "ecap.scheduling" -}}
{{- with .ctx.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .ctx.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .ctx.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .ctx.Values.topologySpread }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "ecap.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 8 }}
{{- end }}
{{- end -}}

{{- define "ecap.podAnnotations" -}}
checksum/config: {{ include "ecap.configData" . | sha256sum }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* checkov findings that do not apply to the portal's workloads, each with its reason (the static policy scan). */}}
{{- define "ecap.workloadSkips" -}}
checkov.io/skip1: CKV_K8S_43=Releases pin the image by digest (image.digest); ECR tags are immutable
checkov.io/skip2: CKV_K8S_38=The token is used for Vault Kubernetes auth and by the remediation actions (Kubernetes API)
checkov.io/skip3: CKV_K8S_35=DATABASE_URL, REDIS_URL and DJANGO_SECRET_KEY are read by django-environ before any file layer exists
checkov.io/skip4: CKV_K8S_15=Tags are immutable and releases pin digests, so IfNotPresent never runs a stale image
{{- end -}}
