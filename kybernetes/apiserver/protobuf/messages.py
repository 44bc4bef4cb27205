"""Field tables for the Kubernetes messages kubectl sends as protobuf.

Written from the API's wire definitions (k8s.io/api and apimachinery,
v0.32), with the pointer-ness of each Go field, for every message reachable
from the kinds in `KINDS`. A table is a string of comma-separated fields,
`NUMBER NAME TYPE`, so the whole schema fits on a few screens:

- NAME is the JSON name; `*` embeds the message's fields in the parent (Go's
  `json:",inline"`, e.g. a Volume's VolumeSource).
- TYPE is `str`, `int` (int32 and int64), `bool`, `bytes` (base64 in JSON),
  a special type that JSON writes as a scalar (`time`, `mtime`, `qty`,
  `ios`, `raw`, `extra`; see convert.py), `map` (string values) or
  `map[VALUE]`, or a message: `Container` in the same group, `meta.LabelSelector`
  in another. A trailing `[]` makes it repeated.
- A trailing `?` keeps zero values. gogo-protobuf writes every non-pointer
  scalar, so a zero on the wire usually means "unset" and is dropped, as
  JSON's omitempty would. Pointer fields (`replicas`, `backoffLimit`, ...)
  and fields JSON always writes (no omitempty: a container's `name`, a
  ServicePort's `port`, a PriorityClass's `value`) keep theirs.

Field numbers never change in Kubernetes, so these tables only grow: a
number missing here is skipped by the decoder, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KINDS", "MESSAGES", "SCALARS", "SPECIALS", "Field"]

SCALARS = frozenset({"str", "int", "bool", "bytes"})
# Messages that JSON writes as one value; convert.py has one function for each.
SPECIALS = frozenset({"time", "mtime", "qty", "ios", "raw", "extra"})


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # the JSON name; "*" for an embedded (inline) message
    type: str  # a scalar, a special, "map", or a qualified message name
    repeated: bool = False
    keep_zero: bool = False
    map_value: str = ""  # for maps: the value's scalar or special type


# (apiVersion, kind) -> the message that carries it.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "core.Namespace",
    ("v1", "ConfigMap"): "core.ConfigMap",
    ("v1", "Secret"): "core.Secret",
    ("v1", "Service"): "core.Service",
    ("v1", "ServiceAccount"): "core.ServiceAccount",
    ("v1", "Pod"): "core.Pod",
    ("v1", "ResourceQuota"): "core.ResourceQuota",
    ("apps/v1", "Deployment"): "apps.Deployment",
    ("batch/v1", "Job"): "batch.Job",
    ("batch/v1", "CronJob"): "batch.CronJob",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "authz.SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): "authz.SelfSubjectRulesReview",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "authn.SelfSubjectReview",
    ("authentication.k8s.io/v1", "TokenRequest"): "authn.TokenRequest",
    ("rbac.authorization.k8s.io/v1", "Role"): "rbac.Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "rbac.ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "rbac.RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "rbac.ClusterRoleBinding",
    ("networking.k8s.io/v1", "Ingress"): "networking.Ingress",
    ("policy/v1", "PodDisruptionBudget"): "policy.PodDisruptionBudget",
    ("policy/v1", "Eviction"): "policy.Eviction",
    ("scheduling.k8s.io/v1", "PriorityClass"): "scheduling.PriorityClass",
    ("autoscaling/v1", "HorizontalPodAutoscaler"): "autoscaling1.HorizontalPodAutoscaler",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "autoscaling2.HorizontalPodAutoscaler",
    # `kubectl certificate approve|deny` PUTs the request to its approval subresource.
    ("certificates.k8s.io/v1", "CertificateSigningRequest"): "certs.CertificateSigningRequest",
}

# Message name ("group.Message", the group being a short prefix) -> its fields.
_TABLES: dict[str, str] = {
    # meta: k8s.io/apimachinery meta/v1
    "meta.ObjectMeta": (
        "1 name str, 2 generateName str, 3 namespace str, 4 selfLink str, 5 uid str, "
        "6 resourceVersion str, 7 generation int, 8 creationTimestamp time, "
        "9 deletionTimestamp time, 10 deletionGracePeriodSeconds int?, 11 labels map, "
        "12 annotations map, 13 ownerReferences OwnerReference[], 14 finalizers str[], "
        "17 managedFields ManagedFieldsEntry[]"
    ),
    "meta.OwnerReference": (
        "5 apiVersion str?, 1 kind str?, 3 name str?, 4 uid str?, 6 controller bool?, "
        "7 blockOwnerDeletion bool?"
    ),
    "meta.ManagedFieldsEntry": (
        "1 manager str, 2 operation str, 3 apiVersion str, 4 time time, 6 fieldsType str, "
        "7 fieldsV1 raw, 8 subresource str"
    ),
    "meta.Condition": (
        "1 type str?, 2 status str?, 3 observedGeneration int, 4 lastTransitionTime time, "
        "5 reason str?, 6 message str?"
    ),
    "meta.LabelSelector": "1 matchLabels map, 2 matchExpressions LabelSelectorRequirement[]",
    "meta.LabelSelectorRequirement": "1 key str?, 2 operator str?, 3 values str[]",
    "meta.FieldSelectorRequirement": "1 key str?, 2 operator str?, 3 values str[]",
    "meta.DeleteOptions": (
        "1 gracePeriodSeconds int?, 2 preconditions Preconditions, 3 orphanDependents bool?, "
        "4 propagationPolicy str?, 5 dryRun str[], "
        "6 ignoreStoreReadErrorWithClusterBreakingPotential bool?"
    ),
    "meta.Preconditions": "1 uid str?, 2 resourceVersion str?",
    # core: the core group, v1
    "core.Namespace": "1 metadata meta.ObjectMeta, 2 spec NamespaceSpec, 3 status NamespaceStatus",
    "core.NamespaceSpec": "1 finalizers str[]",
    "core.NamespaceStatus": "1 phase str, 2 conditions NamespaceCondition[]",
    "core.NamespaceCondition": (
        "1 type str?, 2 status str?, 4 lastTransitionTime time, 5 reason str, 6 message str"
    ),
    "core.ConfigMap": (
        "1 metadata meta.ObjectMeta, 4 immutable bool?, 2 data map, 3 binaryData map[bytes]"
    ),
    "core.Secret": (
        "1 metadata meta.ObjectMeta, 5 immutable bool?, 2 data map[bytes], 4 stringData map, "
        "3 type str"
    ),
    "core.Service": "1 metadata meta.ObjectMeta, 2 spec ServiceSpec, 3 status ServiceStatus",
    "core.ServiceSpec": (
        "1 ports ServicePort[], 2 selector map, 3 clusterIP str, 18 clusterIPs str[], "
        "4 type str, 5 externalIPs str[], 7 sessionAffinity str, 8 loadBalancerIP str, "
        "9 loadBalancerSourceRanges str[], 10 externalName str, 11 externalTrafficPolicy str, "
        "12 healthCheckNodePort int, 13 publishNotReadyAddresses bool, "
        "14 sessionAffinityConfig SessionAffinityConfig, 19 ipFamilies str[], "
        "17 ipFamilyPolicy str?, 20 allocateLoadBalancerNodePorts bool?, "
        "21 loadBalancerClass str?, 22 internalTrafficPolicy str?, "
        "23 trafficDistribution str?"
    ),
    "core.ServicePort": (
        "1 name str, 2 protocol str, 6 appProtocol str?, 3 port int?, 4 targetPort ios, "
        "5 nodePort int"
    ),
    "core.SessionAffinityConfig": "1 clientIP ClientIPConfig",
    "core.ClientIPConfig": "1 timeoutSeconds int?",
    "core.ServiceStatus": "1 loadBalancer LoadBalancerStatus, 2 conditions meta.Condition[]",
    "core.LoadBalancerStatus": "1 ingress LoadBalancerIngress[]",
    "core.LoadBalancerIngress": "1 ip str, 2 hostname str, 3 ipMode str?, 4 ports PortStatus[]",
    "core.PortStatus": "1 port int?, 2 protocol str?, 3 error str?",
    "core.ServiceAccount": (
        "1 metadata meta.ObjectMeta, 2 secrets ObjectReference[], "
        "3 imagePullSecrets LocalObjectReference[], 4 automountServiceAccountToken bool?"
    ),
    "core.ObjectReference": (
        "1 kind str, 2 namespace str, 3 name str, 4 uid str, 5 apiVersion str, "
        "6 resourceVersion str, 7 fieldPath str"
    ),
    "core.LocalObjectReference": "1 name str",
    "core.Pod": "1 metadata meta.ObjectMeta, 2 spec PodSpec, 3 status PodStatus",
    "core.PodSpec": (
        "1 volumes Volume[], 20 initContainers Container[], 2 containers Container[], "
        "34 ephemeralContainers EphemeralContainer[], 3 restartPolicy str, "
        "4 terminationGracePeriodSeconds int?, 5 activeDeadlineSeconds int?, 6 dnsPolicy str, "
        "7 nodeSelector map, 8 serviceAccountName str, 9 serviceAccount str, "
        "21 automountServiceAccountToken bool?, 10 nodeName str, 11 hostNetwork bool, "
        "12 hostPID bool, 13 hostIPC bool, 27 shareProcessNamespace bool?, "
        "14 securityContext PodSecurityContext, 15 imagePullSecrets LocalObjectReference[], "
        "16 hostname str, 17 subdomain str, 18 affinity Affinity, 19 schedulerName str, "
        "22 tolerations Toleration[], 23 hostAliases HostAlias[], 24 priorityClassName str, "
        "25 priority int?, 26 dnsConfig PodDNSConfig, 28 readinessGates PodReadinessGate[], "
        "29 runtimeClassName str?, 30 enableServiceLinks bool?, 31 preemptionPolicy str?, "
        "32 overhead map[qty], 33 topologySpreadConstraints TopologySpreadConstraint[], "
        "35 setHostnameAsFQDN bool?, 36 os PodOS, 37 hostUsers bool?, "
        "38 schedulingGates PodSchedulingGate[], 39 resourceClaims PodResourceClaim[], "
        "40 resources ResourceRequirements"
    ),
    "core.Volume": "1 name str?, 2 * VolumeSource",
    "core.VolumeSource": (
        "1 hostPath HostPathVolumeSource, 2 emptyDir EmptyDirVolumeSource, "
        "3 gcePersistentDisk GCEPersistentDiskVolumeSource, "
        "4 awsElasticBlockStore AWSElasticBlockStoreVolumeSource, "
        "5 gitRepo GitRepoVolumeSource, 6 secret SecretVolumeSource, 7 nfs NFSVolumeSource, "
        "8 iscsi ISCSIVolumeSource, 9 glusterfs GlusterfsVolumeSource, "
        "10 persistentVolumeClaim PersistentVolumeClaimVolumeSource, 11 rbd RBDVolumeSource, "
        "12 flexVolume FlexVolumeSource, 13 cinder CinderVolumeSource, "
        "14 cephfs CephFSVolumeSource, 15 flocker FlockerVolumeSource, "
        "16 downwardAPI DownwardAPIVolumeSource, 17 fc FCVolumeSource, "
        "18 azureFile AzureFileVolumeSource, 19 configMap ConfigMapVolumeSource, "
        "20 vsphereVolume VsphereVirtualDiskVolumeSource, 21 quobyte QuobyteVolumeSource, "
        "22 azureDisk AzureDiskVolumeSource, "
        "23 photonPersistentDisk PhotonPersistentDiskVolumeSource, "
        "26 projected ProjectedVolumeSource, 24 portworxVolume PortworxVolumeSource, "
        "25 scaleIO ScaleIOVolumeSource, 27 storageos StorageOSVolumeSource, "
        "28 csi CSIVolumeSource, 29 ephemeral EphemeralVolumeSource, "
        "30 image ImageVolumeSource"
    ),
    "core.HostPathVolumeSource": "1 path str?, 2 type str?",
    "core.EmptyDirVolumeSource": "1 medium str, 2 sizeLimit qty",
    "core.GCEPersistentDiskVolumeSource": (
        "1 pdName str?, 2 fsType str, 3 partition int, 4 readOnly bool"
    ),
    "core.AWSElasticBlockStoreVolumeSource": (
        "1 volumeID str?, 2 fsType str, 3 partition int, 4 readOnly bool"
    ),
    "core.GitRepoVolumeSource": "1 repository str?, 2 revision str, 3 directory str",
    "core.SecretVolumeSource": (
        "1 secretName str, 2 items KeyToPath[], 3 defaultMode int?, 4 optional bool?"
    ),
    "core.KeyToPath": "1 key str?, 2 path str?, 3 mode int?",
    "core.NFSVolumeSource": "1 server str?, 2 path str?, 3 readOnly bool",
    "core.ISCSIVolumeSource": (
        "1 targetPortal str?, 2 iqn str?, 3 lun int?, 4 iscsiInterface str, 5 fsType str, "
        "6 readOnly bool, 7 portals str[], 8 chapAuthDiscovery bool, 11 chapAuthSession bool, "
        "10 secretRef LocalObjectReference, 12 initiatorName str?"
    ),
    "core.GlusterfsVolumeSource": "1 endpoints str?, 2 path str?, 3 readOnly bool",
    "core.PersistentVolumeClaimVolumeSource": "1 claimName str?, 2 readOnly bool",
    "core.RBDVolumeSource": (
        "1 monitors str[], 2 image str?, 3 fsType str, 4 pool str, 5 user str, 6 keyring str, "
        "7 secretRef LocalObjectReference, 8 readOnly bool"
    ),
    "core.FlexVolumeSource": (
        "1 driver str?, 2 fsType str, 3 secretRef LocalObjectReference, 4 readOnly bool, "
        "5 options map"
    ),
    "core.CinderVolumeSource": (
        "1 volumeID str?, 2 fsType str, 3 readOnly bool, 4 secretRef LocalObjectReference"
    ),
    "core.CephFSVolumeSource": (
        "1 monitors str[], 2 path str, 3 user str, 4 secretFile str, "
        "5 secretRef LocalObjectReference, 6 readOnly bool"
    ),
    "core.FlockerVolumeSource": "1 datasetName str, 2 datasetUUID str",
    "core.DownwardAPIVolumeSource": "1 items DownwardAPIVolumeFile[], 2 defaultMode int?",
    "core.DownwardAPIVolumeFile": (
        "1 path str?, 2 fieldRef ObjectFieldSelector, "
        "3 resourceFieldRef ResourceFieldSelector, 4 mode int?"
    ),
    "core.ObjectFieldSelector": "1 apiVersion str, 2 fieldPath str?",
    "core.ResourceFieldSelector": "1 containerName str, 2 resource str?, 3 divisor qty",
    "core.FCVolumeSource": (
        "1 targetWWNs str[], 2 lun int?, 3 fsType str, 4 readOnly bool, 5 wwids str[]"
    ),
    "core.AzureFileVolumeSource": "1 secretName str?, 2 shareName str?, 3 readOnly bool",
    "core.ConfigMapVolumeSource": (
        "1 * LocalObjectReference, 2 items KeyToPath[], 3 defaultMode int?, 4 optional bool?"
    ),
    "core.VsphereVirtualDiskVolumeSource": (
        "1 volumePath str?, 2 fsType str, 3 storagePolicyName str, 4 storagePolicyID str"
    ),
    "core.QuobyteVolumeSource": (
        "1 registry str?, 2 volume str?, 3 readOnly bool, 4 user str, 5 group str, 6 tenant str"
    ),
    "core.AzureDiskVolumeSource": (
        "1 diskName str?, 2 diskURI str?, 3 cachingMode str?, 4 fsType str?, 5 readOnly bool?, "
        "6 kind str?"
    ),
    "core.PhotonPersistentDiskVolumeSource": "1 pdID str?, 2 fsType str",
    "core.ProjectedVolumeSource": "1 sources VolumeProjection[], 2 defaultMode int?",
    "core.VolumeProjection": (
        "1 secret SecretProjection, 2 downwardAPI DownwardAPIProjection, "
        "3 configMap ConfigMapProjection, 4 serviceAccountToken ServiceAccountTokenProjection, "
        "5 clusterTrustBundle ClusterTrustBundleProjection"
    ),
    "core.SecretProjection": "1 * LocalObjectReference, 2 items KeyToPath[], 4 optional bool?",
    "core.DownwardAPIProjection": "1 items DownwardAPIVolumeFile[]",
    "core.ConfigMapProjection": "1 * LocalObjectReference, 2 items KeyToPath[], 4 optional bool?",
    "core.ServiceAccountTokenProjection": "1 audience str, 2 expirationSeconds int?, 3 path str?",
    "core.ClusterTrustBundleProjection": (
        "1 name str?, 2 signerName str?, 3 labelSelector meta.LabelSelector, 5 optional bool?, "
        "4 path str?"
    ),
    "core.PortworxVolumeSource": "1 volumeID str?, 2 fsType str, 3 readOnly bool",
    "core.ScaleIOVolumeSource": (
        "1 gateway str?, 2 system str?, 3 secretRef LocalObjectReference, 4 sslEnabled bool, "
        "5 protectionDomain str, 6 storagePool str, 7 storageMode str, 8 volumeName str, "
        "9 fsType str, 10 readOnly bool"
    ),
    "core.StorageOSVolumeSource": (
        "1 volumeName str, 2 volumeNamespace str, 3 fsType str, 4 readOnly bool, "
        "5 secretRef LocalObjectReference"
    ),
    "core.CSIVolumeSource": (
        "1 driver str?, 2 readOnly bool?, 3 fsType str?, 4 volumeAttributes map, "
        "5 nodePublishSecretRef LocalObjectReference"
    ),
    "core.EphemeralVolumeSource": "1 volumeClaimTemplate PersistentVolumeClaimTemplate",
    "core.PersistentVolumeClaimTemplate": (
        "1 metadata meta.ObjectMeta, 2 spec PersistentVolumeClaimSpec"
    ),
    "core.PersistentVolumeClaimSpec": (
        "1 accessModes str[], 4 selector meta.LabelSelector, "
        "2 resources VolumeResourceRequirements, 3 volumeName str, 5 storageClassName str?, "
        "6 volumeMode str?, 7 dataSource TypedLocalObjectReference, "
        "8 dataSourceRef TypedObjectReference, 9 volumeAttributesClassName str?"
    ),
    "core.VolumeResourceRequirements": "1 limits map[qty], 2 requests map[qty]",
    "core.TypedLocalObjectReference": "1 apiGroup str?, 2 kind str?, 3 name str?",
    "core.TypedObjectReference": "1 apiGroup str?, 2 kind str?, 3 name str?, 4 namespace str?",
    "core.ImageVolumeSource": "1 reference str, 2 pullPolicy str",
    "core.Container": (
        "1 name str?, 2 image str, 3 command str[], 4 args str[], 5 workingDir str, "
        "6 ports ContainerPort[], 19 envFrom EnvFromSource[], 7 env EnvVar[], "
        "8 resources ResourceRequirements, 23 resizePolicy ContainerResizePolicy[], "
        "24 restartPolicy str?, 9 volumeMounts VolumeMount[], 21 volumeDevices VolumeDevice[], "
        "10 livenessProbe Probe, 11 readinessProbe Probe, 22 startupProbe Probe, "
        "12 lifecycle Lifecycle, 13 terminationMessagePath str, "
        "20 terminationMessagePolicy str, 14 imagePullPolicy str, "
        "15 securityContext SecurityContext, 16 stdin bool, 17 stdinOnce bool, 18 tty bool"
    ),
    "core.ContainerPort": (
        "1 name str, 2 hostPort int, 3 containerPort int?, 4 protocol str, 5 hostIP str"
    ),
    "core.EnvFromSource": (
        "1 prefix str, 2 configMapRef ConfigMapEnvSource, 3 secretRef SecretEnvSource"
    ),
    "core.ConfigMapEnvSource": "1 * LocalObjectReference, 2 optional bool?",
    "core.SecretEnvSource": "1 * LocalObjectReference, 2 optional bool?",
    "core.EnvVar": "1 name str?, 2 value str, 3 valueFrom EnvVarSource",
    "core.EnvVarSource": (
        "1 fieldRef ObjectFieldSelector, 2 resourceFieldRef ResourceFieldSelector, "
        "3 configMapKeyRef ConfigMapKeySelector, 4 secretKeyRef SecretKeySelector"
    ),
    "core.ConfigMapKeySelector": "1 * LocalObjectReference, 2 key str?, 3 optional bool?",
    "core.SecretKeySelector": "1 * LocalObjectReference, 2 key str?, 3 optional bool?",
    "core.ResourceRequirements": "1 limits map[qty], 2 requests map[qty], 3 claims ResourceClaim[]",
    "core.ResourceClaim": "1 name str?, 2 request str",
    "core.ContainerResizePolicy": "1 resourceName str?, 2 restartPolicy str?",
    "core.VolumeMount": (
        "1 name str?, 2 readOnly bool, 7 recursiveReadOnly str?, 3 mountPath str?, "
        "4 subPath str, 5 mountPropagation str?, 6 subPathExpr str"
    ),
    "core.VolumeDevice": "1 name str?, 2 devicePath str?",
    "core.Probe": (
        "1 * ProbeHandler, 2 initialDelaySeconds int, 3 timeoutSeconds int, "
        "4 periodSeconds int, 5 successThreshold int, 6 failureThreshold int, "
        "7 terminationGracePeriodSeconds int?"
    ),
    "core.ProbeHandler": (
        "1 exec ExecAction, 2 httpGet HTTPGetAction, 3 tcpSocket TCPSocketAction, 4 grpc GRPCAction"
    ),
    "core.ExecAction": "1 command str[]",
    "core.HTTPGetAction": (
        "1 path str, 2 port ios, 3 host str, 4 scheme str, 5 httpHeaders HTTPHeader[]"
    ),
    "core.HTTPHeader": "1 name str?, 2 value str?",
    "core.TCPSocketAction": "1 port ios, 2 host str",
    "core.GRPCAction": "1 port int?, 2 service str?",
    "core.Lifecycle": "1 postStart LifecycleHandler, 2 preStop LifecycleHandler",
    "core.LifecycleHandler": (
        "1 exec ExecAction, 2 httpGet HTTPGetAction, 3 tcpSocket TCPSocketAction, "
        "4 sleep SleepAction"
    ),
    "core.SleepAction": "1 seconds int?",
    "core.SecurityContext": (
        "1 capabilities Capabilities, 2 privileged bool?, 3 seLinuxOptions SELinuxOptions, "
        "10 windowsOptions WindowsSecurityContextOptions, 4 runAsUser int?, 8 runAsGroup int?, "
        "5 runAsNonRoot bool?, 6 readOnlyRootFilesystem bool?, "
        "7 allowPrivilegeEscalation bool?, 9 procMount str?, 11 seccompProfile SeccompProfile, "
        "12 appArmorProfile AppArmorProfile"
    ),
    "core.Capabilities": "1 add str[], 2 drop str[]",
    "core.SELinuxOptions": "1 user str, 2 role str, 3 type str, 4 level str",
    "core.WindowsSecurityContextOptions": (
        "1 gmsaCredentialSpecName str?, 2 gmsaCredentialSpec str?, 3 runAsUserName str?, "
        "4 hostProcess bool?"
    ),
    "core.SeccompProfile": "1 type str?, 2 localhostProfile str?",
    "core.AppArmorProfile": "1 type str?, 2 localhostProfile str?",
    "core.EphemeralContainer": "1 * EphemeralContainerCommon, 2 targetContainerName str",
    "core.EphemeralContainerCommon": (
        "1 name str?, 2 image str, 3 command str[], 4 args str[], 5 workingDir str, "
        "6 ports ContainerPort[], 19 envFrom EnvFromSource[], 7 env EnvVar[], "
        "8 resources ResourceRequirements, 23 resizePolicy ContainerResizePolicy[], "
        "24 restartPolicy str?, 9 volumeMounts VolumeMount[], 21 volumeDevices VolumeDevice[], "
        "10 livenessProbe Probe, 11 readinessProbe Probe, 22 startupProbe Probe, "
        "12 lifecycle Lifecycle, 13 terminationMessagePath str, "
        "20 terminationMessagePolicy str, 14 imagePullPolicy str, "
        "15 securityContext SecurityContext, 16 stdin bool, 17 stdinOnce bool, 18 tty bool"
    ),
    "core.PodSecurityContext": (
        "1 seLinuxOptions SELinuxOptions, 8 windowsOptions WindowsSecurityContextOptions, "
        "2 runAsUser int?, 6 runAsGroup int?, 3 runAsNonRoot bool?, "
        "4 supplementalGroups int[], 12 supplementalGroupsPolicy str?, 5 fsGroup int?, "
        "7 sysctls Sysctl[], 9 fsGroupChangePolicy str?, 10 seccompProfile SeccompProfile, "
        "11 appArmorProfile AppArmorProfile, 13 seLinuxChangePolicy str?"
    ),
    "core.Sysctl": "1 name str?, 2 value str?",
    "core.Affinity": (
        "1 nodeAffinity NodeAffinity, 2 podAffinity PodAffinity, 3 podAntiAffinity PodAntiAffinity"
    ),
    "core.NodeAffinity": (
        "1 requiredDuringSchedulingIgnoredDuringExecution NodeSelector, "
        "2 preferredDuringSchedulingIgnoredDuringExecution PreferredSchedulingTerm[]"
    ),
    "core.NodeSelector": "1 nodeSelectorTerms NodeSelectorTerm[]",
    "core.NodeSelectorTerm": (
        "1 matchExpressions NodeSelectorRequirement[], 2 matchFields NodeSelectorRequirement[]"
    ),
    "core.NodeSelectorRequirement": "1 key str?, 2 operator str?, 3 values str[]",
    "core.PreferredSchedulingTerm": "1 weight int?, 2 preference NodeSelectorTerm",
    "core.PodAffinity": (
        "1 requiredDuringSchedulingIgnoredDuringExecution PodAffinityTerm[], "
        "2 preferredDuringSchedulingIgnoredDuringExecution WeightedPodAffinityTerm[]"
    ),
    "core.PodAffinityTerm": (
        "1 labelSelector meta.LabelSelector, 2 namespaces str[], 3 topologyKey str?, "
        "4 namespaceSelector meta.LabelSelector, 5 matchLabelKeys str[], "
        "6 mismatchLabelKeys str[]"
    ),
    "core.WeightedPodAffinityTerm": "1 weight int?, 2 podAffinityTerm PodAffinityTerm",
    "core.PodAntiAffinity": (
        "1 requiredDuringSchedulingIgnoredDuringExecution PodAffinityTerm[], "
        "2 preferredDuringSchedulingIgnoredDuringExecution WeightedPodAffinityTerm[]"
    ),
    "core.Toleration": (
        "1 key str, 2 operator str, 3 value str, 4 effect str, 5 tolerationSeconds int?"
    ),
    "core.HostAlias": "1 ip str?, 2 hostnames str[]",
    "core.PodDNSConfig": "1 nameservers str[], 2 searches str[], 3 options PodDNSConfigOption[]",
    "core.PodDNSConfigOption": "1 name str, 2 value str?",
    "core.PodReadinessGate": "1 conditionType str?",
    "core.TopologySpreadConstraint": (
        "1 maxSkew int?, 2 topologyKey str?, 3 whenUnsatisfiable str?, "
        "4 labelSelector meta.LabelSelector, 5 minDomains int?, 6 nodeAffinityPolicy str?, "
        "7 nodeTaintsPolicy str?, 8 matchLabelKeys str[]"
    ),
    "core.PodOS": "1 name str?",
    "core.PodSchedulingGate": "1 name str?",
    "core.PodResourceClaim": (
        "1 name str?, 3 resourceClaimName str?, 4 resourceClaimTemplateName str?"
    ),
    "core.PodStatus": (
        "1 phase str, 2 conditions PodCondition[], 3 message str, 4 reason str, "
        "11 nominatedNodeName str, 5 hostIP str, 16 hostIPs HostIP[], 6 podIP str, "
        "12 podIPs PodIP[], 7 startTime time, 10 initContainerStatuses ContainerStatus[], "
        "8 containerStatuses ContainerStatus[], 9 qosClass str, "
        "13 ephemeralContainerStatuses ContainerStatus[], 14 resize str, "
        "15 resourceClaimStatuses PodResourceClaimStatus[]"
    ),
    "core.PodCondition": (
        "1 type str?, 2 status str?, 3 lastProbeTime time, 4 lastTransitionTime time, "
        "5 reason str, 6 message str"
    ),
    "core.HostIP": "1 ip str?",
    "core.PodIP": "1 ip str?",
    "core.ContainerStatus": (
        "1 name str?, 2 state ContainerState, 3 lastState ContainerState, 4 ready bool?, "
        "5 restartCount int?, 6 image str?, 7 imageID str?, 8 containerID str, "
        "9 started bool?, 10 allocatedResources map[qty], 11 resources ResourceRequirements, "
        "12 volumeMounts VolumeMountStatus[], 13 user ContainerUser, "
        "14 allocatedResourcesStatus ResourceStatus[]"
    ),
    "core.ContainerState": (
        "1 waiting ContainerStateWaiting, 2 running ContainerStateRunning, "
        "3 terminated ContainerStateTerminated"
    ),
    "core.ContainerStateWaiting": "1 reason str, 2 message str",
    "core.ContainerStateRunning": "1 startedAt time",
    "core.ContainerStateTerminated": (
        "1 exitCode int?, 2 signal int, 3 reason str, 4 message str, 5 startedAt time, "
        "6 finishedAt time, 7 containerID str"
    ),
    "core.VolumeMountStatus": (
        "1 name str?, 2 mountPath str?, 3 readOnly bool, 4 recursiveReadOnly str?"
    ),
    "core.ContainerUser": "1 linux LinuxContainerUser",
    "core.LinuxContainerUser": "1 uid int?, 2 gid int?, 3 supplementalGroups int[]",
    "core.ResourceStatus": "1 name str?, 2 resources ResourceHealth[]",
    "core.ResourceHealth": "1 resourceID str?, 2 health str",
    "core.PodResourceClaimStatus": "1 name str?, 2 resourceClaimName str?",
    "core.PodTemplateSpec": "1 metadata meta.ObjectMeta, 2 spec PodSpec",
    "core.ResourceQuota": (
        "1 metadata meta.ObjectMeta, 2 spec ResourceQuotaSpec, 3 status ResourceQuotaStatus"
    ),
    "core.ResourceQuotaSpec": "1 hard map[qty], 2 scopes str[], 3 scopeSelector ScopeSelector",
    "core.ScopeSelector": "1 matchExpressions ScopedResourceSelectorRequirement[]",
    "core.ScopedResourceSelectorRequirement": "1 scopeName str?, 2 operator str?, 3 values str[]",
    "core.ResourceQuotaStatus": "1 hard map[qty], 2 used map[qty]",
    # apps: apps/v1
    "apps.Deployment": (
        "1 metadata meta.ObjectMeta, 2 spec DeploymentSpec, 3 status DeploymentStatus"
    ),
    "apps.DeploymentSpec": (
        "1 replicas int?, 2 selector meta.LabelSelector, 3 template core.PodTemplateSpec, "
        "4 strategy DeploymentStrategy, 5 minReadySeconds int, 6 revisionHistoryLimit int?, "
        "7 paused bool, 9 progressDeadlineSeconds int?"
    ),
    "apps.DeploymentStrategy": "1 type str, 2 rollingUpdate RollingUpdateDeployment",
    "apps.RollingUpdateDeployment": "1 maxUnavailable ios, 2 maxSurge ios",
    "apps.DeploymentStatus": (
        "1 observedGeneration int, 2 replicas int, 3 updatedReplicas int, 7 readyReplicas int, "
        "4 availableReplicas int, 5 unavailableReplicas int, "
        "6 conditions DeploymentCondition[], 8 collisionCount int?"
    ),
    "apps.DeploymentCondition": (
        "1 type str?, 2 status str?, 6 lastUpdateTime time, 7 lastTransitionTime time, "
        "4 reason str, 5 message str"
    ),
    # batch: batch/v1
    "batch.Job": "1 metadata meta.ObjectMeta, 2 spec JobSpec, 3 status JobStatus",
    "batch.JobSpec": (
        "1 parallelism int?, 2 completions int?, 3 activeDeadlineSeconds int?, "
        "11 podFailurePolicy PodFailurePolicy, 16 successPolicy SuccessPolicy, "
        "7 backoffLimit int?, 12 backoffLimitPerIndex int?, 13 maxFailedIndexes int?, "
        "4 selector meta.LabelSelector, 5 manualSelector bool?, "
        "6 template core.PodTemplateSpec, 8 ttlSecondsAfterFinished int?, "
        "9 completionMode str?, 10 suspend bool?, 14 podReplacementPolicy str?, "
        "15 managedBy str?"
    ),
    "batch.PodFailurePolicy": "1 rules PodFailurePolicyRule[]",
    "batch.PodFailurePolicyRule": (
        "1 action str?, 2 onExitCodes PodFailurePolicyOnExitCodesRequirement, "
        "3 onPodConditions PodFailurePolicyOnPodConditionsPattern[]"
    ),
    "batch.PodFailurePolicyOnExitCodesRequirement": (
        "1 containerName str?, 2 operator str?, 3 values int[]"
    ),
    "batch.PodFailurePolicyOnPodConditionsPattern": "1 type str?, 2 status str?",
    "batch.SuccessPolicy": "1 rules SuccessPolicyRule[]",
    "batch.SuccessPolicyRule": "1 succeededIndexes str?, 2 succeededCount int?",
    "batch.JobStatus": (
        "1 conditions JobCondition[], 2 startTime time, 3 completionTime time, 4 active int, "
        "5 succeeded int, 6 failed int, 11 terminating int?, 7 completedIndexes str, "
        "10 failedIndexes str?, 8 uncountedTerminatedPods UncountedTerminatedPods, "
        "9 ready int?"
    ),
    "batch.JobCondition": (
        "1 type str?, 2 status str?, 3 lastProbeTime time, 4 lastTransitionTime time, "
        "5 reason str, 6 message str"
    ),
    "batch.UncountedTerminatedPods": "1 succeeded str[], 2 failed str[]",
    "batch.CronJob": "1 metadata meta.ObjectMeta, 2 spec CronJobSpec, 3 status CronJobStatus",
    "batch.CronJobSpec": (
        "1 schedule str?, 8 timeZone str?, 2 startingDeadlineSeconds int?, "
        "3 concurrencyPolicy str, 4 suspend bool?, 5 jobTemplate JobTemplateSpec, "
        "6 successfulJobsHistoryLimit int?, 7 failedJobsHistoryLimit int?"
    ),
    "batch.JobTemplateSpec": "1 metadata meta.ObjectMeta, 2 spec JobSpec",
    "batch.CronJobStatus": (
        "1 active core.ObjectReference[], 4 lastScheduleTime time, 5 lastSuccessfulTime time"
    ),
    # authz: authorization.k8s.io/v1
    "authz.SelfSubjectAccessReview": (
        "1 metadata meta.ObjectMeta, 2 spec SelfSubjectAccessReviewSpec, "
        "3 status SubjectAccessReviewStatus"
    ),
    "authz.SelfSubjectAccessReviewSpec": (
        "1 resourceAttributes ResourceAttributes, 2 nonResourceAttributes NonResourceAttributes"
    ),
    "authz.ResourceAttributes": (
        "1 namespace str, 2 verb str, 3 group str, 4 version str, 5 resource str, "
        "6 subresource str, 7 name str, 8 fieldSelector FieldSelectorAttributes, "
        "9 labelSelector LabelSelectorAttributes"
    ),
    "authz.FieldSelectorAttributes": (
        "1 rawSelector str, 2 requirements meta.FieldSelectorRequirement[]"
    ),
    "authz.LabelSelectorAttributes": (
        "1 rawSelector str, 2 requirements meta.LabelSelectorRequirement[]"
    ),
    "authz.NonResourceAttributes": "1 path str, 2 verb str",
    "authz.SubjectAccessReviewStatus": (
        "1 allowed bool?, 4 denied bool, 2 reason str, 3 evaluationError str"
    ),
    "authz.SelfSubjectRulesReview": (
        "1 metadata meta.ObjectMeta, 2 spec SelfSubjectRulesReviewSpec, "
        "3 status SubjectRulesReviewStatus"
    ),
    "authz.SelfSubjectRulesReviewSpec": "1 namespace str",
    "authz.SubjectRulesReviewStatus": (
        "1 resourceRules ResourceRule[], 2 nonResourceRules NonResourceRule[], "
        "3 incomplete bool?, 4 evaluationError str"
    ),
    "authz.ResourceRule": (
        "1 verbs str[], 2 apiGroups str[], 3 resources str[], 4 resourceNames str[]"
    ),
    "authz.NonResourceRule": "1 verbs str[], 2 nonResourceURLs str[]",
    # authn: authentication.k8s.io/v1
    "authn.SelfSubjectReview": "1 metadata meta.ObjectMeta, 2 status SelfSubjectReviewStatus",
    "authn.SelfSubjectReviewStatus": "1 userInfo UserInfo",
    "authn.UserInfo": "1 username str, 2 uid str, 3 groups str[], 4 extra map[extra]",
    "authn.TokenRequest": (
        "1 metadata meta.ObjectMeta, 2 spec TokenRequestSpec, 3 status TokenRequestStatus"
    ),
    "authn.TokenRequestSpec": (
        "1 audiences str[], 4 expirationSeconds int?, 3 boundObjectRef BoundObjectReference"
    ),
    "authn.BoundObjectReference": "1 kind str, 2 apiVersion str, 3 name str, 4 uid str",
    "authn.TokenRequestStatus": "1 token str?, 2 expirationTimestamp time",
    # rbac: rbac.authorization.k8s.io/v1
    "rbac.Role": "1 metadata meta.ObjectMeta, 2 rules PolicyRule[]",
    "rbac.PolicyRule": (
        "1 verbs str[], 2 apiGroups str[], 3 resources str[], 4 resourceNames str[], "
        "5 nonResourceURLs str[]"
    ),
    "rbac.ClusterRole": (
        "1 metadata meta.ObjectMeta, 2 rules PolicyRule[], 3 aggregationRule AggregationRule"
    ),
    "rbac.AggregationRule": "1 clusterRoleSelectors meta.LabelSelector[]",
    "rbac.RoleBinding": "1 metadata meta.ObjectMeta, 2 subjects Subject[], 3 roleRef RoleRef",
    "rbac.Subject": "1 kind str?, 2 apiGroup str, 3 name str?, 4 namespace str",
    "rbac.RoleRef": "1 apiGroup str?, 2 kind str?, 3 name str?",
    "rbac.ClusterRoleBinding": (
        "1 metadata meta.ObjectMeta, 2 subjects Subject[], 3 roleRef RoleRef"
    ),
    # networking: networking.k8s.io/v1
    "networking.Ingress": "1 metadata meta.ObjectMeta, 2 spec IngressSpec, 3 status IngressStatus",
    "networking.IngressSpec": (
        "4 ingressClassName str?, 1 defaultBackend IngressBackend, 2 tls IngressTLS[], "
        "3 rules IngressRule[]"
    ),
    "networking.IngressBackend": (
        "4 service IngressServiceBackend, 3 resource core.TypedLocalObjectReference"
    ),
    "networking.IngressServiceBackend": "1 name str?, 2 port ServiceBackendPort",
    "networking.ServiceBackendPort": "1 name str, 2 number int",
    "networking.IngressTLS": "1 hosts str[], 2 secretName str",
    "networking.IngressRule": "1 host str, 2 * IngressRuleValue",
    "networking.IngressRuleValue": "1 http HTTPIngressRuleValue",
    "networking.HTTPIngressRuleValue": "1 paths HTTPIngressPath[]",
    "networking.HTTPIngressPath": "1 path str, 3 pathType str?, 2 backend IngressBackend",
    "networking.IngressStatus": "1 loadBalancer IngressLoadBalancerStatus",
    "networking.IngressLoadBalancerStatus": "1 ingress IngressLoadBalancerIngress[]",
    "networking.IngressLoadBalancerIngress": (
        "1 ip str, 2 hostname str, 4 ports IngressPortStatus[]"
    ),
    "networking.IngressPortStatus": "1 port int?, 2 protocol str?, 3 error str?",
    # policy: policy/v1
    "policy.PodDisruptionBudget": (
        "1 metadata meta.ObjectMeta, 2 spec PodDisruptionBudgetSpec, "
        "3 status PodDisruptionBudgetStatus"
    ),
    "policy.PodDisruptionBudgetSpec": (
        "1 minAvailable ios, 2 selector meta.LabelSelector, 3 maxUnavailable ios, "
        "4 unhealthyPodEvictionPolicy str?"
    ),
    "policy.PodDisruptionBudgetStatus": (
        "1 observedGeneration int, 2 disruptedPods map[time], 3 disruptionsAllowed int?, "
        "4 currentHealthy int?, 5 desiredHealthy int?, 6 expectedPods int?, "
        "7 conditions meta.Condition[]"
    ),
    "policy.Eviction": "1 metadata meta.ObjectMeta, 2 deleteOptions meta.DeleteOptions",
    # scheduling: scheduling.k8s.io/v1
    "scheduling.PriorityClass": (
        "1 metadata meta.ObjectMeta, 2 value int?, 3 globalDefault bool, 4 description str, "
        "5 preemptionPolicy str?"
    ),
    # certs: certificates.k8s.io/v1
    "certs.CertificateSigningRequest": (
        "1 metadata meta.ObjectMeta, 2 spec CertificateSigningRequestSpec, "
        "3 status CertificateSigningRequestStatus"
    ),
    "certs.CertificateSigningRequestSpec": (
        "1 request bytes?, 7 signerName str?, 8 expirationSeconds int?, 5 usages str[], "
        "2 username str, 3 uid str, 4 groups str[], 6 extra map[extra]"
    ),
    "certs.CertificateSigningRequestStatus": (
        "1 conditions CertificateSigningRequestCondition[], 2 certificate bytes"
    ),
    "certs.CertificateSigningRequestCondition": (
        "1 type str?, 6 status str?, 2 reason str, 3 message str, 4 lastUpdateTime time, "
        "5 lastTransitionTime time"
    ),
    # autoscaling1: autoscaling/v1
    "autoscaling1.HorizontalPodAutoscaler": (
        "1 metadata meta.ObjectMeta, 2 spec HorizontalPodAutoscalerSpec, "
        "3 status HorizontalPodAutoscalerStatus"
    ),
    "autoscaling1.HorizontalPodAutoscalerSpec": (
        "1 scaleTargetRef CrossVersionObjectReference, 2 minReplicas int?, 3 maxReplicas int?, "
        "4 targetCPUUtilizationPercentage int?"
    ),
    "autoscaling1.CrossVersionObjectReference": "1 kind str?, 2 name str?, 3 apiVersion str",
    "autoscaling1.HorizontalPodAutoscalerStatus": (
        "1 observedGeneration int?, 2 lastScaleTime time, 3 currentReplicas int?, "
        "4 desiredReplicas int?, 5 currentCPUUtilizationPercentage int?"
    ),
    # autoscaling2: autoscaling/v2
    "autoscaling2.HorizontalPodAutoscaler": (
        "1 metadata meta.ObjectMeta, 2 spec HorizontalPodAutoscalerSpec, "
        "3 status HorizontalPodAutoscalerStatus"
    ),
    "autoscaling2.HorizontalPodAutoscalerSpec": (
        "1 scaleTargetRef CrossVersionObjectReference, 2 minReplicas int?, 3 maxReplicas int?, "
        "4 metrics MetricSpec[], 5 behavior HorizontalPodAutoscalerBehavior"
    ),
    "autoscaling2.CrossVersionObjectReference": "1 kind str?, 2 name str?, 3 apiVersion str",
    "autoscaling2.MetricSpec": (
        "1 type str?, 2 object ObjectMetricSource, 3 pods PodsMetricSource, "
        "4 resource ResourceMetricSource, 7 containerResource ContainerResourceMetricSource, "
        "5 external ExternalMetricSource"
    ),
    "autoscaling2.ObjectMetricSource": (
        "1 describedObject CrossVersionObjectReference, 2 target MetricTarget, "
        "3 metric MetricIdentifier"
    ),
    "autoscaling2.MetricTarget": (
        "1 type str?, 2 value qty, 3 averageValue qty, 4 averageUtilization int?"
    ),
    "autoscaling2.MetricIdentifier": "1 name str?, 2 selector meta.LabelSelector",
    "autoscaling2.PodsMetricSource": "1 metric MetricIdentifier, 2 target MetricTarget",
    "autoscaling2.ResourceMetricSource": "1 name str?, 2 target MetricTarget",
    "autoscaling2.ContainerResourceMetricSource": (
        "1 name str?, 2 target MetricTarget, 3 container str?"
    ),
    "autoscaling2.ExternalMetricSource": "1 metric MetricIdentifier, 2 target MetricTarget",
    "autoscaling2.HorizontalPodAutoscalerBehavior": (
        "1 scaleUp HPAScalingRules, 2 scaleDown HPAScalingRules"
    ),
    "autoscaling2.HPAScalingRules": (
        "3 stabilizationWindowSeconds int?, 1 selectPolicy str?, 2 policies HPAScalingPolicy[]"
    ),
    "autoscaling2.HPAScalingPolicy": "1 type str?, 2 value int?, 3 periodSeconds int?",
    "autoscaling2.HorizontalPodAutoscalerStatus": (
        "1 observedGeneration int?, 2 lastScaleTime time, 3 currentReplicas int, "
        "4 desiredReplicas int?, 5 currentMetrics MetricStatus[], "
        "6 conditions HorizontalPodAutoscalerCondition[]"
    ),
    "autoscaling2.MetricStatus": (
        "1 type str?, 2 object ObjectMetricStatus, 3 pods PodsMetricStatus, "
        "4 resource ResourceMetricStatus, 7 containerResource ContainerResourceMetricStatus, "
        "5 external ExternalMetricStatus"
    ),
    "autoscaling2.ObjectMetricStatus": (
        "1 metric MetricIdentifier, 2 current MetricValueStatus, "
        "3 describedObject CrossVersionObjectReference"
    ),
    "autoscaling2.MetricValueStatus": "1 value qty, 2 averageValue qty, 3 averageUtilization int?",
    "autoscaling2.PodsMetricStatus": "1 metric MetricIdentifier, 2 current MetricValueStatus",
    "autoscaling2.ResourceMetricStatus": "1 name str?, 2 current MetricValueStatus",
    "autoscaling2.ContainerResourceMetricStatus": (
        "1 name str?, 2 current MetricValueStatus, 3 container str?"
    ),
    "autoscaling2.ExternalMetricStatus": "1 metric MetricIdentifier, 2 current MetricValueStatus",
    "autoscaling2.HorizontalPodAutoscalerCondition": (
        "1 type str?, 2 status str?, 3 lastTransitionTime time, 4 reason str, 5 message str"
    ),
}


def _parse_field(group: str, text: str) -> tuple[int, Field]:
    number, name, spec = text.split()
    keep_zero = spec.endswith("?")
    spec = spec.removesuffix("?")
    repeated = spec.endswith("[]")
    spec = spec.removesuffix("[]")
    if spec == "map" or spec.startswith("map["):
        value = spec[4:-1] if spec != "map" else "str"
        return int(number), Field(name, "map", map_value=value)
    if spec not in SCALARS and spec not in SPECIALS and "." not in spec:
        spec = f"{group}.{spec}"
    return int(number), Field(name, spec, repeated=repeated, keep_zero=keep_zero)


def _parse(tables: dict[str, str]) -> dict[str, dict[int, Field]]:
    messages = {
        message: dict(_parse_field(message.split(".")[0], f) for f in spec.split(", "))
        for message, spec in tables.items()
    }
    for message, table in messages.items():
        for field in table.values():
            known = field.type in SCALARS or field.type in SPECIALS or field.type == "map"
            if not known and field.type not in messages:
                raise AssertionError(f"{message}.{field.name}: unknown type {field.type}")
    return messages


MESSAGES: dict[str, dict[int, Field]] = _parse(_TABLES)
