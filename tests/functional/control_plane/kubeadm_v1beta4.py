"""Strict shape of what kubeadm v1beta4 and the component configurations accept.

Field names and nesting follow the published API references: kubeadm Configuration (v1beta4),
Kubelet Configuration (v1beta1), kube-proxy Configuration (v1alpha1), kube-scheduler
Configuration (v1), kube-apiserver Audit (v1), EncryptionConfiguration, AdmissionConfiguration and
AuthenticationConfiguration (apiserver.config.k8s.io/v1), PodSecurityConfiguration (v1) and EventRateLimit (v1alpha1).
Only the fields listed are accepted (an unknown or misspelt field, a v1beta3 map where v1beta4
wants a list of name/value pairs, a wrong scalar type: each is an error). Where a type has more
fields than the collection renders, the listed ones are the documented fields of that type.
"""

from __future__ import annotations

from typing import Any

STR, INT, BOOL, ANY = "str", "int", "bool", "any"


def listof(spec: Any) -> tuple[str, Any]:
    return ("list", spec)


def mapof(spec: Any) -> tuple[str, Any]:
    return ("map", spec)


ARG = {"name": STR, "value": STR}
ENV = {"name": STR, "value": STR}
HOST_PATH_MOUNT = {"name": STR, "hostPath": STR, "mountPath": STR, "readOnly": BOOL, "pathType": STR}
TAINT = {"key": STR, "value": STR, "effect": STR, "timeAdded": STR}
NODE_REGISTRATION = {
    "name": STR,
    "criSocket": STR,
    "taints": listof(TAINT),
    "kubeletExtraArgs": listof(ARG),
    "ignorePreflightErrors": listof(STR),
    "imagePullPolicy": STR,
    "imagePullSerial": BOOL,
}
API_ENDPOINT = {"advertiseAddress": STR, "bindPort": INT}
TIMEOUTS = {
    "controlPlaneComponentHealthCheck": STR,
    "kubeletHealthCheck": STR,
    "kubernetesAPICall": STR,
    "etcdAPICall": STR,
    "tlsBootstrap": STR,
    "discovery": STR,
    "upgradeManifests": STR,
}
PATCHES = {"directory": STR}
CONTROL_PLANE_COMPONENT = {"extraArgs": listof(ARG), "extraVolumes": listof(HOST_PATH_MOUNT), "extraEnvs": listof(ENV)}
IMAGE_META = {"imageRepository": STR, "imageTag": STR}

KUBEADM: dict[str, dict[str, Any]] = {
    "InitConfiguration": {
        "apiVersion": STR,
        "kind": STR,
        "bootstrapTokens": listof(
            {"token": STR, "description": STR, "ttl": STR, "expires": STR, "usages": listof(STR), "groups": listof(STR)}
        ),
        "dryRun": BOOL,
        "nodeRegistration": NODE_REGISTRATION,
        "localAPIEndpoint": API_ENDPOINT,
        "certificateKey": STR,
        "skipPhases": listof(STR),
        "patches": PATCHES,
        "timeouts": TIMEOUTS,
    },
    "ClusterConfiguration": {
        "apiVersion": STR,
        "kind": STR,
        "etcd": {
            "local": {
                **IMAGE_META,
                "dataDir": STR,
                "extraArgs": listof(ARG),
                "extraEnvs": listof(ENV),
                "serverCertSANs": listof(STR),
                "peerCertSANs": listof(STR),
            },
            "external": {"endpoints": listof(STR), "caFile": STR, "certFile": STR, "keyFile": STR},
        },
        "networking": {"serviceSubnet": STR, "podSubnet": STR, "dnsDomain": STR},
        "kubernetesVersion": STR,
        "controlPlaneEndpoint": STR,
        "apiServer": {**CONTROL_PLANE_COMPONENT, "certSANs": listof(STR)},
        "controllerManager": CONTROL_PLANE_COMPONENT,
        "scheduler": CONTROL_PLANE_COMPONENT,
        "dns": {**IMAGE_META, "disabled": BOOL},
        "proxy": {"disabled": BOOL},
        "certificatesDir": STR,
        "imageRepository": STR,
        "featureGates": mapof(BOOL),
        "clusterName": STR,
        "encryptionAlgorithm": STR,
        "certificateValidityPeriod": STR,
        "caCertificateValidityPeriod": STR,
    },
    "JoinConfiguration": {
        "apiVersion": STR,
        "kind": STR,
        "dryRun": BOOL,
        "nodeRegistration": NODE_REGISTRATION,
        "caCertPath": STR,
        "discovery": {
            "bootstrapToken": {
                "token": STR,
                "apiServerEndpoint": STR,
                "caCertHashes": listof(STR),
                "unsafeSkipCAVerification": BOOL,
            },
            "file": {"kubeConfigPath": STR},
            "tlsBootstrapToken": STR,
        },
        "controlPlane": {"localAPIEndpoint": API_ENDPOINT, "certificateKey": STR},
        "skipPhases": listof(STR),
        "patches": PATCHES,
        "timeouts": TIMEOUTS,
    },
}
ENCRYPTION_ALGORITHMS = {"RSA-2048", "RSA-3072", "RSA-4096", "ECDSA-P256", "ECDSA-P384"}

# KubeletConfiguration (kubelet.config.k8s.io/v1beta1): the documented fields the collection uses
# or may use; nested types spelt out for the ones it renders.
KUBELET: dict[str, Any] = {
    "apiVersion": STR,
    "kind": STR,
    "enableServer": BOOL,
    "staticPodPath": STR,
    "address": STR,
    "port": INT,
    "readOnlyPort": INT,
    "tlsCertFile": STR,
    "tlsPrivateKeyFile": STR,
    "tlsCipherSuites": listof(STR),
    "tlsMinVersion": STR,
    "rotateCertificates": BOOL,
    "serverTLSBootstrap": BOOL,
    "authentication": {
        "x509": {"clientCAFile": STR},
        "webhook": {"enabled": BOOL, "cacheTTL": STR},
        "anonymous": {"enabled": BOOL},
    },
    "authorization": {"mode": STR, "webhook": {"cacheAuthorizedTTL": STR, "cacheUnauthorizedTTL": STR}},
    "registryPullQPS": INT,
    "eventRecordQPS": INT,
    "eventBurst": INT,
    "enableDebuggingHandlers": BOOL,
    "healthzPort": INT,
    "healthzBindAddress": STR,
    "clusterDomain": STR,
    "clusterDNS": listof(STR),
    "cgroupDriver": STR,
    "failCgroupV1": BOOL,
    "maxPods": INT,
    "podPidsLimit": INT,
    "resolvConf": STR,
    "protectKernelDefaults": BOOL,
    "makeIPTablesUtilChains": BOOL,
    "seccompDefault": BOOL,
    "containerRuntimeEndpoint": STR,
    "imageServiceEndpoint": STR,
    "containerLogMaxSize": STR,
    "containerLogMaxFiles": INT,
    "evictionHard": mapof(STR),
    "imageGCHighThresholdPercent": INT,
    "imageGCLowThresholdPercent": INT,
    "systemReserved": mapof(STR),
    "kubeReserved": mapof(STR),
    "featureGates": mapof(BOOL),
    "failSwapOn": BOOL,
    "shutdownGracePeriod": STR,
    "shutdownGracePeriodCriticalPods": STR,
}
KUBELET_TLS_VERSIONS = {"VersionTLS12", "VersionTLS13"}

KUBE_PROXY: dict[str, Any] = {
    "apiVersion": STR,
    "kind": STR,
    "featureGates": mapof(BOOL),
    "clientConnection": {"kubeconfig": STR, "qps": INT, "burst": INT},
    "hostnameOverride": STR,
    "bindAddress": STR,
    "healthzBindAddress": STR,
    "metricsBindAddress": STR,
    "mode": STR,
    "clusterCIDR": STR,
    "iptables": {"masqueradeAll": BOOL, "masqueradeBit": INT, "syncPeriod": STR, "minSyncPeriod": STR},
    "ipvs": {"scheduler": STR, "strictARP": BOOL, "syncPeriod": STR, "minSyncPeriod": STR},
    "nftables": {"masqueradeAll": BOOL, "masqueradeBit": INT, "syncPeriod": STR, "minSyncPeriod": STR},
    "conntrack": {"maxPerCore": INT, "min": INT},
}
KUBE_PROXY_MODES = {"iptables", "ipvs", "nftables"}

PLUGIN_SET = {"enabled": listof({"name": STR, "weight": INT}), "disabled": listof({"name": STR, "weight": INT})}
SCHEDULER: dict[str, Any] = {
    "apiVersion": STR,
    "kind": STR,
    "parallelism": INT,
    "leaderElection": {
        "leaderElect": BOOL,
        "leaseDuration": STR,
        "renewDeadline": STR,
        "retryPeriod": STR,
        "resourceLock": STR,
        "resourceName": STR,
        "resourceNamespace": STR,
    },
    "clientConnection": {"kubeconfig": STR, "acceptContentTypes": STR, "contentType": STR, "qps": INT, "burst": INT},
    # componentbaseconfigv1alpha1.DebuggingConfiguration, inline.
    "enableProfiling": BOOL,
    "enableContentionProfiling": BOOL,
    "percentageOfNodesToScore": INT,
    "podInitialBackoffSeconds": INT,
    "podMaxBackoffSeconds": INT,
    "profiles": listof(
        {
            "schedulerName": STR,
            "percentageOfNodesToScore": INT,
            "plugins": {
                name: PLUGIN_SET
                for name in (
                    "preEnqueue", "queueSort", "preFilter", "filter", "postFilter", "preScore", "score",
                    "reserve", "permit", "preBind", "bind", "postBind", "multiPoint",
                )
            },
            "pluginConfig": listof({"name": STR, "args": ANY}),
        }
    ),
}

AUDIT_POLICY: dict[str, Any] = {
    "apiVersion": STR,
    "kind": STR,
    "omitStages": listof(STR),
    "omitManagedFields": BOOL,
    "rules": listof(
        {
            "level": STR,
            "users": listof(STR),
            "userGroups": listof(STR),
            "verbs": listof(STR),
            "resources": listof({"group": STR, "resources": listof(STR), "resourceNames": listof(STR)}),
            "namespaces": listof(STR),
            "nonResourceURLs": listof(STR),
            "omitStages": listof(STR),
            "omitManagedFields": BOOL,
        }
    ),
}
AUDIT_LEVELS = {"None", "Metadata", "Request", "RequestResponse"}

KEY = {"name": STR, "secret": STR}
ENCRYPTION: dict[str, Any] = {
    "apiVersion": STR,
    "kind": STR,
    "resources": listof(
        {
            "resources": listof(STR),
            "providers": listof(
                {
                    "aescbc": {"keys": listof(KEY)},
                    "aesgcm": {"keys": listof(KEY)},
                    "secretbox": {"keys": listof(KEY)},
                    "identity": {},
                    "kms": ANY,
                }
            ),
        }
    ),
}

PREFIXED_CLAIM = {"claim": STR, "prefix": STR, "expression": STR}
AUTHENTICATION: dict[str, Any] = {
    "apiVersion": STR,
    "kind": STR,
    "jwt": listof(
        {
            "issuer": {
                "url": STR,
                "discoveryURL": STR,
                "certificateAuthority": STR,
                "audiences": listof(STR),
                "audienceMatchPolicy": STR,
                "egressSelectorType": STR,
            },
            "claimValidationRules": listof({"claim": STR, "requiredValue": STR, "expression": STR, "message": STR}),
            "claimMappings": {
                "username": PREFIXED_CLAIM,
                "groups": PREFIXED_CLAIM,
                "uid": {"claim": STR, "expression": STR},
                "extra": listof({"key": STR, "valueExpression": STR}),
            },
            "userValidationRules": listof({"expression": STR, "message": STR}),
        }
    ),
    "anonymous": {"enabled": BOOL, "conditions": listof({"path": STR})},
}

ADMISSION: dict[str, Any] = {
    "apiVersion": STR,
    "kind": STR,
    "plugins": listof({"name": STR, "path": STR, "configuration": ANY}),
}
POD_SECURITY: dict[str, Any] = {
    "apiVersion": STR,
    "kind": STR,
    "defaults": {
        "enforce": STR, "enforce-version": STR, "audit": STR, "audit-version": STR, "warn": STR, "warn-version": STR,
    },
    "exemptions": {"usernames": listof(STR), "runtimeClasses": listof(STR), "namespaces": listof(STR)},
}
EVENT_RATE_LIMIT: dict[str, Any] = {
    "apiVersion": STR,
    "kind": STR,
    "limits": listof({"type": STR, "qps": INT, "burst": INT, "cacheSize": INT}),
}

KINDS = {
    ("kubeadm.k8s.io/v1beta4", "InitConfiguration"): KUBEADM["InitConfiguration"],
    ("kubeadm.k8s.io/v1beta4", "ClusterConfiguration"): KUBEADM["ClusterConfiguration"],
    ("kubeadm.k8s.io/v1beta4", "JoinConfiguration"): KUBEADM["JoinConfiguration"],
    ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration"): KUBELET,
    ("kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration"): KUBE_PROXY,
    ("kubescheduler.config.k8s.io/v1", "KubeSchedulerConfiguration"): SCHEDULER,
    ("audit.k8s.io/v1", "Policy"): AUDIT_POLICY,
    ("apiserver.config.k8s.io/v1", "EncryptionConfiguration"): ENCRYPTION,
    ("apiserver.config.k8s.io/v1", "AdmissionConfiguration"): ADMISSION,
    ("apiserver.config.k8s.io/v1", "AuthenticationConfiguration"): AUTHENTICATION,
    ("pod-security.admission.config.k8s.io/v1", "PodSecurityConfiguration"): POD_SECURITY,
    ("eventratelimit.admission.k8s.io/v1alpha1", "Configuration"): EVENT_RATE_LIMIT,
}


SCALARS = {STR: (str,), INT: (int,), BOOL: (bool,)}
NAMES = {STR: "a string", INT: "an integer", BOOL: "a boolean"}


def _check_scalar(value: Any, spec: str, path: str, errors: list[str]) -> None:
    ok = isinstance(value, SCALARS[spec]) and not (spec == INT and isinstance(value, bool))
    if not ok:
        errors.append(f"{path}: expected {NAMES[spec]}, got {type(value).__name__} {value!r}")


def _check_container(value: Any, spec: tuple[str, Any], path: str, errors: list[str]) -> None:
    kind, item_spec = spec
    wanted = list if kind == "list" else dict
    if not isinstance(value, wanted):
        errors.append(f"{path}: expected a {'list' if kind == 'list' else 'mapping'}, got {type(value).__name__}")
        return
    items = enumerate(value) if kind == "list" else value.items()
    for key, item in items:
        _check(item, item_spec, f"{path}[{key}]" if kind == "list" else f"{path}.{key}", errors)


def _check(value: Any, spec: Any, path: str, errors: list[str]) -> None:
    if spec == ANY:
        return
    if isinstance(spec, str):
        _check_scalar(value, spec, path, errors)
    elif isinstance(spec, tuple):
        _check_container(value, spec, path, errors)
    elif not isinstance(value, dict):
        errors.append(f"{path}: expected an object, got {type(value).__name__}")
    else:
        for key, item in value.items():
            if key in spec:
                _check(item, spec[key], f"{path}.{key}", errors)
            else:
                errors.append(f"{path}.{key}: unknown field")


def validate(doc: dict[str, Any]) -> list[str]:
    """Errors of one configuration document (empty when it has the accepted shape)."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key not in KINDS:
        return [f"{key}: not a configuration type of this check"]
    errors: list[str] = []
    _check(doc, KINDS[key], doc["kind"], errors)
    return errors
