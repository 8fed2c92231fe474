{{/*
The chart name, or nameOverride.
*/}}
{{- define "zerodrift.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's resources: fullnameOverride, else RELEASE-NAME, or RELEASE
when the release name already contains the chart name. Kept to 52 characters so that
suffixed names (NAME-playbooks, NAME-ledger) and the CronJob's Job names fit in 63.
*/}}
{{- define "zerodrift.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The chart label value: NAME-VERSION.
*/}}
{{- define "zerodrift.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select the release's pods. They never change across upgrades.
*/}}
{{- define "zerodrift.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zerodrift.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels on every resource.
*/}}
{{- define "zerodrift.labels" -}}
helm.sh/chart: {{ include "zerodrift.chart" . }}
{{ include "zerodrift.selectorLabels" . }}
app.kubernetes.io/version: {{ include "zerodrift.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: worker
app.kubernetes.io/part-of: zerodrift
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The ServiceAccount the pods run as.
*/}}
{{- define "zerodrift.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "zerodrift.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image tag: image.tag, else the chart's appVersion.
*/}}
{{- define "zerodrift.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/*
The image reference: REPOSITORY:TAG, or REPOSITORY:TAG@DIGEST when a digest pins it.
*/}}
{{- define "zerodrift.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository (include "zerodrift.imageTag" .) }}
{{- if .Values.image.digest }}
{{- $ref = printf "%s@%s" $ref .Values.image.digest }}
{{- end }}
{{- $ref }}
{{- end }}

{{/*
The Lease leader election runs on.
*/}}
{{- define "zerodrift.leaseName" -}}
{{- default (include "zerodrift.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
Whether the pods elect a leader: deployment mode with leaderElection.enabled. Renders "true"
or nothing, for use in if.
*/}}
{{- define "zerodrift.leaderElection" -}}
{{- if and (eq .Values.mode "deployment") .Values.leaderElection.enabled }}true{{ end }}
{{- end }}

{{/*
The CronJob's schedule: cronjob.schedule, else config.schedule.
*/}}
{{- define "zerodrift.cronSchedule" -}}
{{- .Values.cronjob.schedule | default (.Values.config | default dict).schedule | default "" }}
{{- end }}

{{/*
The Secret holding the PostgreSQL ledger URL.
*/}}
{{- define "zerodrift.postgresSecret" -}}
{{- default (printf "%s-ledger" (include "zerodrift.fullname" .)) .Values.ledger.postgres.existingSecret }}
{{- end }}

{{/*
The PersistentVolumeClaim holding the SQLite ledger.
*/}}
{{- define "zerodrift.ledgerClaim" -}}
{{- default (printf "%s-ledger" (include "zerodrift.fullname" .)) .Values.ledger.sqlite.existingClaim }}
{{- end }}

{{/*
Where the chart mounts things.
*/}}
{{- define "zerodrift.configDir" -}}/etc/zerodrift{{- end }}
{{- define "zerodrift.playbookDir" -}}/etc/zerodrift/playbooks{{- end }}
{{- define "zerodrift.githubKeyDir" -}}/var/run/secrets/zerodrift/github{{- end }}
{{- define "zerodrift.ledgerDir" -}}/var/lib/zerodrift{{- end }}

{{/*
The configuration file: values.config with what the chart wires itself merged in
(playbookDirs, github.tokenEnv, github.app.*). values.config is deep-copied, never changed.
*/}}
{{- define "zerodrift.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- if .Values.playbooks }}
{{- $dirs := $cfg.playbookDirs | default list }}
{{- $_ := set $cfg "playbookDirs" (append $dirs (include "zerodrift.playbookDir" .) | uniq) }}
{{- end }}
{{- if or .Values.github.existingSecret .Values.github.app.existingSecret }}
{{- $gh := $cfg.github | default dict }}
{{- if .Values.github.existingSecret }}
{{- $_ := set $gh "tokenEnv" "GITHUB_TOKEN" }}
{{- end }}
{{- if .Values.github.app.existingSecret }}
{{- $app := $gh.app | default dict }}
{{- $_ := set $app "privateKeyFile" (printf "%s/private-key.pem" (include "zerodrift.githubKeyDir" .)) }}
{{- if .Values.github.app.id }}
{{- $_ := set $app "id" .Values.github.app.id }}
{{- end }}
{{- if .Values.github.app.installationID }}
{{- $_ := set $app "installationID" .Values.github.app.installationID }}
{{- end }}
{{- $_ := set $gh "app" $app }}
{{- end }}
{{- $_ := set $cfg "github" $gh }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
Refuse values that would install something that cannot work, with a message saying what to
change. values.schema.json checks types and names; these check combinations.
*/}}
{{- define "zerodrift.validate" -}}
{{- $deployment := eq .Values.mode "deployment" }}
{{- if and $deployment (eq .Values.ledger.type "sqlite") (gt (int .Values.replicaCount) 1) }}
{{- fail (printf "zerodrift: ledger.type=sqlite with replicaCount=%d: the SQLite ledger lives on a ReadWriteOnce volume that only one pod can use. Set replicaCount=1, or use ledger.type=postgres to run several replicas." (int .Values.replicaCount)) }}
{{- end }}
{{- if and $deployment (not .Values.leaderElection.enabled) (gt (int .Values.replicaCount) 1) }}
{{- fail (printf "zerodrift: leaderElection.enabled=false with replicaCount=%d: every replica would run every cycle. Enable leader election, or set replicaCount=1." (int .Values.replicaCount)) }}
{{- end }}
{{- if and (not $deployment) .Values.serviceMonitor.enabled }}
{{- fail "zerodrift: serviceMonitor.enabled needs mode=deployment: in cronjob mode nothing serves /metrics." }}
{{- end }}
{{- $shards := int .Values.shards }}
{{- if and $deployment (gt $shards 1) }}
{{- fail (printf "zerodrift: shards=%d needs mode=cronjob: a sharded run is an Indexed Job of %d pods, while zerodrift serve (mode=deployment) runs whole cycles on the leader. Set shards=1, or mode=cronjob." $shards $shards) }}
{{- end }}
{{- if and (not $deployment) (gt $shards 1) (eq .Values.ledger.type "sqlite") }}
{{- fail (printf "zerodrift: shards=%d with ledger.type=sqlite: the %d pods of a sharded run all write the ledger, and the SQLite ledger lives on a ReadWriteOnce volume that only one pod can use. Use ledger.type=postgres, or set shards=1." $shards $shards) }}
{{- end }}
{{- $events := .Values.events }}
{{- if and (not $deployment) (or $events.subscription $events.project $events.concurrency) }}
{{- fail "zerodrift: events.* needs mode=deployment: event mode runs in zerodrift serve beside its scheduled cycles, and the CronJob's zerodrift run only runs one cycle. Set mode=deployment, or leave events.subscription, events.project and events.concurrency unset." }}
{{- end }}
{{- if and $events.subscription (not (hasPrefix "projects/" $events.subscription)) (not $events.project) (not (((.Values.config | default dict).events | default dict).project)) }}
{{- fail (printf "zerodrift: events.subscription=%s is a subscription ID, which needs its project: set events.project, or give the full name projects/PROJECT/subscriptions/%s." $events.subscription $events.subscription) }}
{{- end }}
{{- if and (not $deployment) (not (include "zerodrift.cronSchedule" .)) }}
{{- fail "zerodrift: mode=cronjob needs a schedule: set cronjob.schedule or config.schedule." }}
{{- end }}
{{- if and .Values.github.existingSecret .Values.github.app.existingSecret }}
{{- fail "zerodrift: set github.existingSecret (a token) or github.app.existingSecret (a GitHub App), not both." }}
{{- end }}
{{- if .Values.github.app.existingSecret }}
{{- $app := ((.Values.config | default dict).github | default dict).app | default dict }}
{{- if not (or .Values.github.app.id $app.id) }}
{{- fail "zerodrift: github.app.existingSecret needs the App's ID: set github.app.id (or config.github.app.id)." }}
{{- end }}
{{- if not (or .Values.github.app.installationID $app.installationID) }}
{{- fail "zerodrift: github.app.existingSecret needs the App's installation ID: set github.app.installationID (or config.github.app.installationID)." }}
{{- end }}
{{- end }}
{{- if and .Values.gcp.serviceAccount (not .Values.serviceAccount.create) }}
{{- fail "zerodrift: gcp.serviceAccount only annotates a ServiceAccount the chart creates: with serviceAccount.create=false, annotate your ServiceAccount with iam.gke.io/gcp-service-account yourself and leave gcp.serviceAccount empty." }}
{{- end }}
{{- if (.Values.config | default dict).ledger }}
{{- fail "zerodrift: config.ledger is overridden by the chart's ledger settings (ZERODRIFT_LEDGER): remove it and set ledger.type (and ledger.postgres.existingSecret) instead." }}
{{- end }}
{{- end }}

{{/*
The pod spec shared by the Deployment and the CronJob's Jobs. Call with a dict:
  root: the chart context
  args: the container's arguments
*/}}
{{- define "zerodrift.podSpec" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $deployment := eq $v.mode "deployment" }}
{{- $elect := include "zerodrift.leaderElection" $root -}}
serviceAccountName: {{ include "zerodrift.serviceAccountName" $root }}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- /* The token is mounted only for leader election, the one Kubernetes API call zerodrift makes. */}}
automountServiceAccountToken: {{ ternary "true" "false" (eq $elect "true") }}
{{- if not $deployment }}
restartPolicy: Never
{{- end }}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  fsGroup: 65532
  fsGroupChangePolicy: OnRootMismatch
  seccompProfile:
    type: RuntimeDefault
containers:
  - name: zerodrift
    image: {{ include "zerodrift.image" $root }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    args:
      {{- toYaml .args | nindent 6 }}
    {{- if $deployment }}
    ports:
      - name: http
        containerPort: {{ $v.http.port }}
        protocol: TCP
    livenessProbe:
      httpGet:
        path: /healthz
        port: http
      {{- toYaml $v.livenessProbe | nindent 6 }}
    readinessProbe:
      httpGet:
        path: /readyz
        port: http
      {{- toYaml $v.readinessProbe | nindent 6 }}
    {{- end }}
    env:
      - name: POD_NAME
        valueFrom:
          fieldRef:
            fieldPath: metadata.name
      - name: POD_NAMESPACE
        valueFrom:
          fieldRef:
            fieldPath: metadata.namespace
      - name: GOMEMLIMIT
        valueFrom:
          resourceFieldRef:
            containerName: zerodrift
            resource: limits.memory
      {{- if eq $v.ledger.type "postgres" }}
      - name: ZERODRIFT_LEDGER
        valueFrom:
          secretKeyRef:
            name: {{ include "zerodrift.postgresSecret" $root }}
            key: {{ $v.ledger.postgres.urlKey }}
      {{- else }}
      - name: ZERODRIFT_LEDGER
        value: sqlite://{{ include "zerodrift.ledgerDir" $root }}/ledger.db
      {{- end }}
      {{- if and (not $deployment) (gt (int $v.shards) 1) }}
      # The pod's index in the Indexed Job, which --shard=$(JOB_COMPLETION_INDEX)/N reads:
      # declared here, from the downward API, so that the expansion never depends on the
      # variable the Job controller adds.
      - name: JOB_COMPLETION_INDEX
        valueFrom:
          fieldRef:
            fieldPath: metadata.annotations['batch.kubernetes.io/job-completion-index']
      {{- end }}
      {{- with $v.github.existingSecret }}
      - name: GITHUB_TOKEN
        valueFrom:
          secretKeyRef:
            name: {{ . }}
            key: {{ $v.github.tokenKey }}
      {{- end }}
      {{- with $v.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- with $v.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      privileged: false
      capabilities:
        drop:
          - ALL
    volumeMounts:
      - name: config
        mountPath: {{ include "zerodrift.configDir" $root }}
        readOnly: true
      - name: tmp
        mountPath: /tmp
      {{- if eq $v.ledger.type "sqlite" }}
      - name: ledger
        mountPath: {{ include "zerodrift.ledgerDir" $root }}
      {{- end }}
      {{- if $v.github.app.existingSecret }}
      - name: github-app
        mountPath: {{ include "zerodrift.githubKeyDir" $root }}
        readOnly: true
      {{- end }}
volumes:
  - name: config
    projected:
      sources:
        - configMap:
            name: {{ include "zerodrift.fullname" $root }}
            items:
              - key: config.yaml
                path: config.yaml
        {{- with $v.playbooks }}
        - configMap:
            name: {{ include "zerodrift.fullname" $root }}-playbooks
            items:
              {{- range $file, $_ := . }}
              - key: {{ $file }}
                path: playbooks/{{ $file }}
              {{- end }}
        {{- end }}
  - name: tmp
    emptyDir:
      sizeLimit: {{ $v.tmpSizeLimit }}
  {{- if eq $v.ledger.type "sqlite" }}
  - name: ledger
    persistentVolumeClaim:
      claimName: {{ include "zerodrift.ledgerClaim" $root }}
  {{- end }}
  {{- with $v.github.app.existingSecret }}
  - name: github-app
    secret:
      secretName: {{ . }}
      defaultMode: 0440
      items:
        - key: {{ $v.github.app.privateKeyKey }}
          path: private-key.pem
  {{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if and $deployment $v.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml $v.topologySpreadConstraints | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The playbooks ConfigMap's data: file name -> playbook text (a map is rendered as YAML).
*/}}
{{- define "zerodrift.playbookData" -}}
{{- $data := dict }}
{{- range $file, $body := .Values.playbooks }}
{{- if kindIs "string" $body }}
{{- $_ := set $data $file $body }}
{{- else }}
{{- $_ := set $data $file (toYaml $body) }}
{{- end }}
{{- end }}
{{- toYaml $data }}
{{- end }}

{{/*
The SHA-256 of what the pods read from ConfigMaps: the configuration and the playbooks.
*/}}
{{- define "zerodrift.checksum" -}}
{{- printf "%s\n---\n%s" (include "zerodrift.config" .) (include "zerodrift.playbookData" .) | sha256sum }}
{{- end }}

{{/*
The pod template's metadata: labels and the config checksum that rolls the pods when the
configuration or the playbooks change.
*/}}
{{- define "zerodrift.podMetadata" -}}
labels:
  {{- include "zerodrift.labels" . | nindent 2 }}
  {{- with .Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  checksum/config: {{ include "zerodrift.checksum" . }}
  {{- with .Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
