{{/* vim: set filetype=mustache: */}}

{{- define "filas.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "filas.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "filas.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a component's objects: <fullname>-<component>. */}}
{{- define "filas.componentName" -}}
{{- printf "%s-%s" (include "filas.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of the release (no component). */}}
{{- define "filas.selectorLabels" -}}
app.kubernetes.io/name: {{ include "filas.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "filas.labels" -}}
helm.sh/chart: {{ include "filas.chart" . }}
{{ include "filas.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: filas
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of a component: dict "root" $ "component" "api". */}}
{{- define "filas.componentSelectorLabels" -}}
{{ include "filas.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "filas.componentLabels" -}}
{{ include "filas.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* metadata.annotations from commonAnnotations merged with extra ones: dict "root" $ "extra" map. */}}
{{- define "filas.annotations" -}}
{{- $all := merge (deepCopy (default dict .extra)) (deepCopy .root.Values.commonAnnotations) -}}
{{- if $all }}
annotations:
  {{- toYaml $all | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Image reference: dict "root" $ "image" .Values.api.image. */}}
{{- define "filas.image" -}}
{{- $registry := .root.Values.image.registry -}}
{{- $tag := default (default .root.Chart.AppVersion .root.Values.image.tag) .image.tag -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Image reference of a third-party image (in-cluster Redis and PostgreSQL). */}}
{{- define "filas.thirdPartyImage" -}}
{{- if .registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .registry) .repository .tag -}}
{{- else -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}
{{- end -}}

{{- define "filas.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "filas.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "filas.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
{{- if kindIs "string" . }}
  - name: {{ . }}
{{- else }}
  - {{ toYaml . | nindent 4 | trim }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* ---- secrets ------------------------------------------------------------------------------------------ */}}

{{- define "filas.secretName" -}}
{{- include "filas.fullname" . -}}
{{- end -}}

{{- define "filas.redisHost" -}}
{{- printf "%s-redis" (include "filas.fullname" .) -}}
{{- end -}}

{{- define "filas.postgresqlHost" -}}
{{- printf "%s-postgresql" (include "filas.fullname" .) -}}
{{- end -}}

{{/* The Redis URL the chart writes into its Secret ("" when the user's existingSecret holds it). */}}
{{- define "filas.redisUrl" -}}
{{- if .Values.redis.internal.enabled -}}
{{- if .Values.redis.internal.existingSecret -}}
{{- else if .Values.redis.internal.password -}}
{{- printf "redis://:%s@%s:6379/0" (urlquery .Values.redis.internal.password) (include "filas.redisHost" .) -}}
{{- else -}}
{{- printf "redis://%s:6379/0" (include "filas.redisHost" .) -}}
{{- end -}}
{{- else -}}
{{- .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{/* FILAS_REDIS_URL as an env entry. */}}
{{- define "filas.redisUrlEnv" -}}
{{- if .Values.redis.existingSecret }}
- name: FILAS_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.existingSecretKey }}
{{- else if and .Values.redis.internal.enabled .Values.redis.internal.existingSecret }}
- name: INTERNAL_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.internal.existingSecret }}
      key: {{ .Values.redis.internal.existingSecretPasswordKey }}
- name: FILAS_REDIS_URL
  value: {{ printf "redis://:$(INTERNAL_REDIS_PASSWORD)@%s:6379/0" (include "filas.redisHost" .) | quote }}
{{- else if include "filas.redisUrl" . }}
- name: FILAS_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "filas.secretName" . }}
      key: redis-url
{{- end }}
{{- end -}}

{{/* The database URL the chart writes into its Secret ("" when the user's existingSecret holds it). */}}
{{- define "filas.databaseUrl" -}}
{{- $pg := .Values.postgresql.internal -}}
{{- if $pg.enabled -}}
{{- if not $pg.auth.existingSecret -}}
{{- printf "postgresql+psycopg://%s:%s@%s:5432/%s" $pg.auth.username (urlquery $pg.auth.password) (include "filas.postgresqlHost" .) $pg.auth.database -}}
{{- end -}}
{{- else -}}
{{- .Values.postgresql.url -}}
{{- end -}}
{{- end -}}

{{/* FILAS_DATABASE_URL as an env entry: dict "root" $ "secretName" name-of-the-chart-secret-to-read. */}}
{{- define "filas.databaseUrlEnv" -}}
{{- $root := .root -}}
{{- $pg := $root.Values.postgresql.internal -}}
{{- if $root.Values.postgresql.existingSecret }}
- name: FILAS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.postgresql.existingSecret }}
      key: {{ $root.Values.postgresql.existingSecretKey }}
{{- else if and $pg.enabled $pg.auth.existingSecret }}
- name: INTERNAL_POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $pg.auth.existingSecret }}
      key: {{ $pg.auth.existingSecretPasswordKey }}
- name: FILAS_DATABASE_URL
  value: {{ printf "postgresql+psycopg://%s:$(INTERNAL_POSTGRES_PASSWORD)@%s:5432/%s" $pg.auth.username (include "filas.postgresqlHost" $root) $pg.auth.database | quote }}
{{- else if include "filas.databaseUrl" $root }}
- name: FILAS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: database-url
{{- end }}
{{- end -}}

{{/* A secret env entry: dict "name" ENV "existingSecret" name "existingKey" key "chartSecret" name "chartKey" key
     "value" the-values-value. Rendered from the user's Secret when existingSecret is set, from the chart's Secret
     when the value is set, not at all otherwise (the setting keeps its default). */}}
{{- define "filas.secretEnv" -}}
{{- if .existingSecret }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .existingKey }}
{{- else if .value }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .chartSecret }}
      key: {{ .chartKey }}
{{- end }}
{{- end -}}

{{/* ---- personal data ---------------------------------------------------------------------------------- */}}

{{/* The Secret the chart keeps FILAS_OPT_OUT_KEY in when personalData.optOut.existingSecret is empty. */}}
{{- define "filas.optOutKeySecretName" -}}
{{- printf "%s-opt-out-key" (include "filas.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The opt-out key the chart stores (plain text; "" when the user's existingSecret holds it). As Bitnami's
     common.secrets.passwords.manage: the key already in the chart's opt-out Secret (lookup), else the value, else
     a random one on a first install; an upgrade with neither fails, and a value that differs from the stored key
     is refused (either would forget every opt-out). Resolved once per render and kept in .Values (every template
     of a chart shares that map), so that the migration hook's Secret and the release's Secret, rendered from
     different templates, get the same generated key. */}}
{{- define "filas.optOutKey" -}}
{{- $o := .Values.personalData.optOut -}}
{{- if not $o.existingSecret -}}
{{- if not (hasKey $o "__resolvedKey") -}}
{{- $name := include "filas.optOutKeySecretName" . -}}
{{- $stored := "" -}}
{{- with (lookup "v1" "Secret" .Release.Namespace $name) -}}
{{- with .data -}}{{- with (index . "opt-out-key") -}}{{- $stored = b64dec . -}}{{- end -}}{{- end -}}
{{- end -}}
{{- $key := $o.key | toString -}}
{{- if and $stored $key (ne $stored $key) -}}
{{- fail (printf "personalData.optOut.key differs from the opt-out key stored in Secret %s: changing it forgets every opt-out. Leave personalData.optOut.key empty to keep the stored key; to change it on purpose, delete that Secret first." $name) -}}
{{- end -}}
{{- if $stored -}}
{{- $key = $stored -}}
{{- else if not $key -}}
{{- if .Release.IsUpgrade -}}
{{- fail (printf "personalData.optOut.key is required: this upgrade finds no opt-out key in Secret %s to reuse, and a new one would forget every opt-out. Set personalData.optOut.key to the key in use (a first key: openssl rand -hex 32), or personalData.optOut.existingSecret. (A dry run or helm diff without cluster access cannot read the stored key: pass it, or use --dry-run=server.)" $name) -}}
{{- end -}}
{{- $key = randAlphaNum 64 -}}
{{- end -}}
{{- $_ := set $o "__resolvedKey" $key -}}
{{- end -}}
{{- index $o "__resolvedKey" -}}
{{- end -}}
{{- end -}}

{{/* FILAS_OPT_OUT_KEY as an env entry: dict "root" $ "secretName" the-chart-secret-holding-key-opt-out-key. */}}
{{- define "filas.optOutKeyEnv" -}}
{{- $o := .root.Values.personalData.optOut -}}
- name: FILAS_OPT_OUT_KEY
  valueFrom:
    secretKeyRef:
      {{- if $o.existingSecret }}
      name: {{ $o.existingSecret }}
      key: {{ $o.existingSecretKey }}
      {{- else }}
      name: {{ .secretName }}
      key: opt-out-key
      {{- end }}
{{- end -}}

{{/* Refuses a Cloud API gateway without what sending and its webhooks need. */}}
{{- define "filas.checkGateway" -}}
{{- $g := .Values.campaignWorker.gateway -}}
{{- if eq $g.type "meta" -}}
{{- if not $g.meta.phoneNumberId -}}
{{- fail "campaignWorker.gateway.meta.phoneNumberId is required with campaignWorker.gateway.type=meta (FILAS_META_PHONE_NUMBER_ID)" -}}
{{- end -}}
{{- if not (or $g.meta.existingSecret $g.meta.accessToken) -}}
{{- fail "campaignWorker.gateway.meta.accessToken (or meta.existingSecret) is required with campaignWorker.gateway.type=meta: the Cloud API refuses sends without it" -}}
{{- end -}}
{{- if not (or $g.meta.existingSecret $g.meta.appSecret) -}}
{{- fail "campaignWorker.gateway.meta.appSecret (or meta.existingSecret) is required with campaignWorker.gateway.type=meta: without it the API refuses Meta's webhooks, and with them replies that opt a number out" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* ingress-nginx's proxy-body-size for the API: the largest body the API reads on any route (the contacts CSV
     upload's maxBytes, or maxBodyBytes, default 1 MiB), rounded up to MiB. */}}
{{- define "filas.ingressBodySize" -}}
{{- $largest := int64 (include "filas.envString" .Values.api.contactsImport.maxBytes) -}}
{{- with include "filas.envString" .Values.api.maxBodyBytes -}}
{{- $largest = max $largest (int64 .) -}}
{{- end -}}
{{- printf "%dm" (div (add $largest 1048575) 1048576) -}}
{{- end -}}

{{/* The public URL of the API (FILAS_PUBLIC_URL): the value, else the first ingress host. */}}
{{- define "filas.publicUrl" -}}
{{- if .Values.api.publicUrl -}}
{{- .Values.api.publicUrl -}}
{{- else if and .Values.api.ingress.enabled .Values.api.ingress.hosts -}}
{{- $host := (first .Values.api.ingress.hosts).host -}}
{{- $scheme := "http" -}}
{{- range .Values.api.ingress.tls -}}
{{- if has $host (default list .hosts) -}}
{{- $scheme = "https" -}}
{{- end -}}
{{- end -}}
{{- printf "%s://%s" $scheme $host -}}
{{- end -}}
{{- end -}}

{{/* ---- pods ---------------------------------------------------------------------------------------------- */}}

{{/* Environment shared by every Filas container: settings and the Redis and database URLs. */}}
{{- define "filas.commonEnv" -}}
{{- include "filas.redisUrlEnv" . }}
{{- include "filas.databaseUrlEnv" (dict "root" . "secretName" (include "filas.secretName" .)) }}
{{- end -}}

{{- define "filas.envFromConfig" -}}
- configMapRef:
    name: {{ include "filas.fullname" . }}
{{- end -}}

{{/* Probe spec without the handler: the probe values of a component. */}}
{{- define "filas.probeTimings" -}}
initialDelaySeconds: {{ .initialDelaySeconds }}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
failureThreshold: {{ .failureThreshold }}
successThreshold: {{ .successThreshold }}
{{- end -}}

{{/* Probes of a component on an HTTP port: dict "values" componentValues "port" portName "liveness" path
     "readiness" path. */}}
{{- define "filas.httpProbes" -}}
{{- $v := .values -}}
{{- if $v.startupProbe.enabled }}
startupProbe:
  httpGet:
    path: {{ .liveness }}
    port: {{ .port }}
  {{- include "filas.probeTimings" $v.startupProbe | nindent 2 }}
{{- end }}
{{- if $v.livenessProbe.enabled }}
livenessProbe:
  httpGet:
    path: {{ .liveness }}
    port: {{ .port }}
  {{- include "filas.probeTimings" $v.livenessProbe | nindent 2 }}
{{- end }}
{{- if $v.readinessProbe.enabled }}
readinessProbe:
  httpGet:
    path: {{ .readiness }}
    port: {{ .port }}
  {{- include "filas.probeTimings" $v.readinessProbe | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Writable directories of a read-only root file system: /tmp (gunicorn's heartbeat files and control socket,
     the prometheus multiprocess files under FILAS_METRICS_DIR, Playwright's and Chromium's profiles) and $HOME
     (/home/filas: caches such as fontconfig's and Chromium's ~/.cache, ~/.config, ~/.pki). */}}
{{- define "filas.writableVolumes" -}}
- name: tmp
  emptyDir: {}
- name: home
  emptyDir: {}
{{- end -}}

{{- define "filas.writableVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: home
  mountPath: /home/filas
{{- end -}}

{{/* Pod-level fields shared by every Filas pod: dict "root" $ "values" componentValues "component" name. */}}
{{- define "filas.podCommon" -}}
{{- $root := .root -}}
{{- $v := .values -}}
serviceAccountName: {{ include "filas.serviceAccountName" $root }}
automountServiceAccountToken: {{ $root.Values.serviceAccount.automountServiceAccountToken }}
{{- include "filas.imagePullSecrets" $root }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $spread := $v.topologySpreadConstraints | default list -}}
{{- if $root.Values.topologySpread.enabled }}
{{- $spread = append $spread (dict "maxSkew" $root.Values.topologySpread.maxSkew "topologyKey" $root.Values.topologySpread.topologyKey "whenUnsatisfiable" $root.Values.topologySpread.whenUnsatisfiable "labelSelector" (dict "matchLabels" (fromYaml (include "filas.componentSelectorLabels" (dict "root" $root "component" .component))))) }}
{{- end }}
{{- with $spread }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod template metadata: dict "root" $ "values" componentValues "component" name "checksum" bool. */}}
{{- define "filas.podMetadata" -}}
labels:
  {{- include "filas.componentSelectorLabels" (dict "root" .root "component" .component) | nindent 2 }}
  app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
  app.kubernetes.io/part-of: filas
  {{- with .values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  checksum/config: {{ include (print .root.Template.BasePath "/configmap.yaml") .root | sha256sum }}
  checksum/secret: {{ include (print .root.Template.BasePath "/secret.yaml") .root | sha256sum }}
  {{- with .values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Target work per pod of a worker's autoscaler: the value, else threads x processes. */}}
{{- define "filas.workerTarget" -}}
{{- $explicit := .explicit | toString -}}
{{- if $explicit -}}
{{- $explicit -}}
{{- else -}}
{{- mul .values.threads .values.processes -}}
{{- end -}}
{{- end -}}

{{/* Checks a worker's values: dict "name" "portalWorker" "values" v. */}}
{{- define "filas.checkWorker" -}}
{{- $v := .values -}}
{{- if and $v.autoscaling.enabled $v.keda.enabled -}}
{{- fail (printf "%s: enable either autoscaling (HPA) or keda (a ScaledObject makes its own HPA), not both" .name) -}}
{{- end -}}
{{- if le (int $v.terminationGracePeriodSeconds) (mul 2 (int $v.shutdownTimeoutSeconds)) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must exceed twice shutdownTimeoutSeconds (%d): Dramatiq may wait that long twice" .name (int $v.terminationGracePeriodSeconds) (int $v.shutdownTimeoutSeconds)) -}}
{{- end -}}
{{- end -}}

{{/* ---- KEDA --------------------------------------------------------------------------------------------- */}}

{{- define "filas.kedaEnabled" -}}
{{- if or (and .Values.portalWorker.enabled .Values.portalWorker.keda.enabled) (and .Values.campaignWorker.enabled .Values.campaignWorker.keda.enabled) -}}
true
{{- end -}}
{{- end -}}

{{/* The external redis.url, parsed ("" when there is none). */}}
{{- define "filas.externalRedisUrl" -}}
{{- if and (not .Values.redis.internal.enabled) (not .Values.redis.existingSecret) .Values.redis.url -}}
{{- .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{- define "filas.kedaRedisAddress" -}}
{{- $url := include "filas.externalRedisUrl" . -}}
{{- if .Values.keda.redis.address -}}
{{- .Values.keda.redis.address -}}
{{- else if .Values.redis.internal.enabled -}}
{{- printf "%s:6379" (include "filas.redisHost" .) -}}
{{- else if $url -}}
{{- $host := (urlParse $url).host -}}
{{- if contains ":" $host }}{{ $host }}{{ else }}{{ printf "%s:6379" $host }}{{ end -}}
{{- else if include "filas.kedaEnabled" . -}}
{{- fail "keda.redis.address is required: KEDA's redis trigger needs host:port, and neither redis.url nor the in-cluster Redis gives it (KEDA cannot read redis.existingSecret)" -}}
{{- end -}}
{{- end -}}

{{- define "filas.kedaRedisDatabase" -}}
{{- $url := include "filas.externalRedisUrl" . -}}
{{- if .Values.keda.redis.databaseIndex | toString -}}
{{- .Values.keda.redis.databaseIndex | toString -}}
{{- else if and $url (trimPrefix "/" (urlParse $url).path) -}}
{{- trimPrefix "/" (urlParse $url).path -}}
{{- else -}}
0
{{- end -}}
{{- end -}}

{{- define "filas.kedaRedisTls" -}}
{{- $url := include "filas.externalRedisUrl" . -}}
{{- if .Values.keda.redis.enableTLS | toString -}}
{{- .Values.keda.redis.enableTLS | toString -}}
{{- else if and $url (eq (urlParse $url).scheme "rediss") -}}
true
{{- else -}}
false
{{- end -}}
{{- end -}}

{{/* The Redis password the chart copies into its Secret for KEDA ("" when none, or the user's Secret has it). */}}
{{- define "filas.kedaRedisPassword" -}}
{{- if and (include "filas.kedaEnabled" .) (not .Values.keda.redis.existingSecret) -}}
{{- $url := include "filas.externalRedisUrl" . -}}
{{- if .Values.redis.internal.enabled -}}
{{- .Values.redis.internal.password -}}
{{- else if and $url (urlParse $url).userinfo -}}
{{- $userinfo := (urlParse $url).userinfo -}}
{{- if contains ":" $userinfo }}{{ regexReplaceAll "^[^:]*:" $userinfo "" }}{{ end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Secret and key KEDA's TriggerAuthentication reads the Redis password from: "name key", or "". */}}
{{- define "filas.kedaRedisPasswordRef" -}}
{{- if .Values.keda.redis.existingSecret -}}
{{- printf "%s %s" .Values.keda.redis.existingSecret .Values.keda.redis.existingSecretPasswordKey -}}
{{- else if and .Values.redis.internal.enabled .Values.redis.internal.existingSecret -}}
{{- printf "%s %s" .Values.redis.internal.existingSecret .Values.redis.internal.existingSecretPasswordKey -}}
{{- else if include "filas.kedaRedisPassword" . -}}
{{- printf "%s redis-password" (include "filas.secretName" .) -}}
{{- end -}}
{{- end -}}

{{/* ---- workers ------------------------------------------------------------------------------------------ */}}

{{/* A Dramatiq worker's Deployment: dict "root" $ "component" "portal-worker" "name" "portalWorker"
     "module" "filas_portal.worker" "values" .Values.portalWorker "env" extraEnvYaml "volumes" extraVolumesYaml
     "mounts" extraMountsYaml. */}}
{{- define "filas.workerDeployment" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- include "filas.checkWorker" (dict "name" .name "values" $v) -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "filas.componentName" . }}
  labels:
    {{- include "filas.componentLabels" . | nindent 4 }}
  {{- with include "filas.annotations" (dict "root" $root) }}{{ . | trim | nindent 2 }}{{- end }}
spec:
  {{- if not (or $v.autoscaling.enabled $v.keda.enabled) }}
  replicas: {{ $v.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  selector:
    matchLabels:
      {{- include "filas.componentSelectorLabels" . | nindent 6 }}
  template:
    metadata:
      {{- include "filas.podMetadata" (dict "root" $root "values" $v "component" .component) | nindent 6 }}
    spec:
      {{- include "filas.podCommon" (dict "root" $root "values" $v "component" .component) | nindent 6 }}
      # Longer than twice --worker-shutdown-timeout: running jobs hand themselves back at their next safe point.
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      containers:
        - name: {{ .component }}
          image: {{ include "filas.image" (dict "root" $root "image" $v.image) }}
          imagePullPolicy: {{ default $root.Values.image.pullPolicy $v.image.pullPolicy }}
          # The image's command (ENTRYPOINT tini, CMD dramatiq ...) with the chart's processes and threads; `args`,
          # not `command`, so that tini stays PID 1.
          args:
            - dramatiq
            - {{ .module }}
            - --processes
            - {{ $v.processes | quote }}
            - --threads
            - {{ $v.threads | quote }}
            - --worker-shutdown-timeout
            - {{ mul (int $v.shutdownTimeoutSeconds) 1000 | quote }}
          ports:
            - name: metrics
              containerPort: {{ $v.metrics.port }}
              protocol: TCP
          envFrom:
            {{- include "filas.envFromConfig" $root | nindent 12 }}
            {{- with $v.extraEnvFrom }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          env:
            - name: FILAS_METRICS_PORT
              value: {{ $v.metrics.port | quote }}
            {{- with include "filas.commonEnv" $root }}{{ . | trim | nindent 12 }}{{- end }}
            {{- with .env }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          # /livez, on the metrics server the dramatiq CLI forks: 200 while every worker process's consumers poll
          # Redis (a running job does not stop them), 503 once one has not for FILAS_WORKER_LIVENESS_SECONDS
          # (filas/worker_liveness.py). Ready means booted and consuming, so a rollout waits for a real consumer.
          {{- with include "filas.httpProbes" (dict "values" $v "port" "metrics" "liveness" "/livez" "readiness" "/livez") }}{{ . | trim | nindent 10 }}{{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            {{- include "filas.writableVolumeMounts" $root | nindent 12 }}
            {{- with .mounts }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $v.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        {{- include "filas.writableVolumes" $root | nindent 8 }}
        {{- with .volumes }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $v.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
{{- end -}}

{{/* The metrics Service of a worker or the scheduler: dict "root" $ "component" c "values" v. */}}
{{- define "filas.metricsService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ printf "%s-metrics" (include "filas.componentName" .) }}
  labels:
    {{- include "filas.componentLabels" . | nindent 4 }}
    filas.io/metrics: "true"
  {{- with include "filas.annotations" (dict "root" .root) }}{{ . | trim | nindent 2 }}{{- end }}
spec:
  type: ClusterIP
  # Scraped while not Ready too: a worker is unready when its consumers cannot poll (Redis down), which is when
  # its metrics matter most.
  publishNotReadyAddresses: true
  selector:
    {{- include "filas.componentSelectorLabels" . | nindent 4 }}
  ports:
    - name: metrics
      port: {{ .values.metrics.port }}
      targetPort: metrics
      protocol: TCP
{{- end -}}

{{/* A PodDisruptionBudget: dict "root" $ "component" c "values" v. */}}
{{- define "filas.pdb" -}}
{{- if .values.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "filas.componentName" . }}
  labels:
    {{- include "filas.componentLabels" . | nindent 4 }}
  {{- with include "filas.annotations" (dict "root" .root) }}{{ . | trim | nindent 2 }}{{- end }}
spec:
  {{- if not (kindIs "invalid" .values.pdb.minAvailable) }}
  minAvailable: {{ .values.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .values.pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "filas.componentSelectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* A worker's HPA on queue depth (External metric): dict "root" $ "component" c "values" v. */}}
{{- define "filas.workerHpa" -}}
{{- $v := .values -}}
{{- if $v.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "filas.componentName" . }}
  labels:
    {{- include "filas.componentLabels" . | nindent 4 }}
  {{- with include "filas.annotations" (dict "root" .root) }}{{ . | trim | nindent 2 }}{{- end }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "filas.componentName" . }}
  minReplicas: {{ $v.autoscaling.minReplicas }}
  maxReplicas: {{ $v.autoscaling.maxReplicas }}
  # One metric per queue (the HPA follows the largest): messages waiting or running per pod, from
  # filas_queue_messages{queue,state} (filas/metrics.py) served through the external metrics API (prometheus-
  # adapter; its rule is in the chart's README).
  metrics:
    {{- range $v.autoscaling.queues }}
    - type: External
      external:
        metric:
          name: filas_queue_messages
          selector:
            matchLabels:
              queue: {{ . | quote }}
            matchExpressions:
              - key: state
                operator: In
                values:
                  {{- toYaml $v.autoscaling.states | nindent 18 }}
        target:
          type: AverageValue
          averageValue: {{ include "filas.workerTarget" (dict "explicit" $v.autoscaling.targetAverageValue "values" $v) | quote }}
    {{- end }}
  {{- with $v.autoscaling.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* A worker's KEDA ScaledObject on its Redis lists dramatiq:<queue>: dict "root" $ "component" c "values" v. */}}
{{- define "filas.workerScaledObject" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- if $v.keda.enabled }}
{{- $auth := include "filas.kedaRedisPasswordRef" $root -}}
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ include "filas.componentName" . }}
  labels:
    {{- include "filas.componentLabels" . | nindent 4 }}
  {{- with include "filas.annotations" (dict "root" $root) }}{{ . | trim | nindent 2 }}{{- end }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "filas.componentName" . }}
  minReplicaCount: {{ $v.keda.minReplicaCount }}
  maxReplicaCount: {{ $v.keda.maxReplicaCount }}
  pollingInterval: {{ $v.keda.pollingInterval }}
  cooldownPeriod: {{ $v.keda.cooldownPeriod }}
  # Ready messages of each queue: Dramatiq's Redis broker keeps them in the list dramatiq:<queue>.
  triggers:
    {{- range $v.keda.queues }}
    - type: redis
      metadata:
        address: {{ include "filas.kedaRedisAddress" $root | quote }}
        databaseIndex: {{ include "filas.kedaRedisDatabase" $root | quote }}
        enableTLS: {{ include "filas.kedaRedisTls" $root | quote }}
        listName: {{ printf "dramatiq:%s" . | quote }}
        listLength: {{ include "filas.workerTarget" (dict "explicit" $v.keda.listLength "values" $v) | quote }}
        activationListLength: {{ $v.keda.activationListLength | toString | quote }}
      {{- if $auth }}
      authenticationRef:
        name: {{ printf "%s-redis" (include "filas.fullname" $root) }}
      {{- end }}
    {{- end }}
{{- end }}
{{- end -}}

{{/* ---- migrations ---------------------------------------------------------------------------------------- */}}

{{- define "filas.migrationsHookEvents" -}}
{{- if .Values.migrations.hookEvents -}}
{{- .Values.migrations.hookEvents -}}
{{- else if .Values.postgresql.internal.enabled -}}
post-install,pre-upgrade
{{- else -}}
pre-install,pre-upgrade
{{- end -}}
{{- end -}}

{{/* Hook annotations of the migration objects: dict "root" $ "weight" n. */}}
{{- define "filas.migrationsHookAnnotations" -}}
helm.sh/hook: {{ include "filas.migrationsHookEvents" .root }}
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: {{ .root.Values.migrations.hookDeletePolicy }}
{{- end -}}

{{- define "filas.migrationsName" -}}
{{- printf "%s-migrations" (include "filas.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Security contexts of the in-cluster Redis and PostgreSQL: the chart's, with the image's own user. */}}
{{- define "filas.thirdPartyPodSecurityContext" -}}
{{- toYaml (merge (dict "runAsUser" .uid "runAsGroup" .uid "fsGroup" .uid) (deepCopy .root.Values.podSecurityContext)) -}}
{{- end -}}

{{- define "filas.thirdPartyContainerSecurityContext" -}}
{{- toYaml (merge (dict "runAsUser" .uid "runAsGroup" .uid) (deepCopy .root.Values.containerSecurityContext)) -}}
{{- end -}}

{{/* The components that serve metrics, as "component:portName" for the enabled ones. */}}
{{- define "filas.metricsTargets" -}}
{{- $targets := list "api:http" -}}
{{- if .Values.portalWorker.enabled }}{{ $targets = append $targets "portal-worker:metrics" }}{{ end -}}
{{- if .Values.campaignWorker.enabled }}{{ $targets = append $targets "campaign-worker:metrics" }}{{ end -}}
{{- if .Values.scheduler.enabled }}{{ $targets = append $targets "scheduler:metrics" }}{{ end -}}
{{- join " " $targets -}}
{{- end -}}

{{/* A value as an environment string: whole numbers without Go's exponent notation (2097152, not 2.097152e+06). */}}
{{- define "filas.envString" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}
