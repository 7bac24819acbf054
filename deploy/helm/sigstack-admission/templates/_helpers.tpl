{{- define "sigstack-admission.name" -}}sigstack-admission{{- end -}}
{{- define "sigstack-admission.service" -}}{{ include "sigstack-admission.name" . }}.{{ .Release.Namespace }}.svc{{- end -}}
{{- define "sigstack-admission.rules" -}}
- {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods, pods/ephemeralcontainers]}
- {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments, replicasets, statefulsets, daemonsets]}
- {apiGroups: [batch], apiVersions: [v1, v1beta1], operations: [CREATE, UPDATE], resources: [jobs, cronjobs]}
{{- end -}}
