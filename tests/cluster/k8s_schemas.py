"""JSON schemas for the parts of the Kubernetes / KubeRay objects that radrl_dist's manifests use.

kubeconform is on neither PyPI nor Debian bookworm, so CI validates with `jsonschema` against these.
They cover the fields we write (and forbid unknown keys where a typo would be silently ignored by
the API server's pruning), not the whole CRDs.
"""

QUANTITY_CPU = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?m?$"}
QUANTITY_MEM = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$"}
QUANTITY_GPU = {"type": "string", "pattern": r"^[0-9]+$"}

RESOURCE_LIST = {
    "type": "object",
    "properties": {"cpu": QUANTITY_CPU, "memory": QUANTITY_MEM, "nvidia.com/gpu": QUANTITY_GPU},
    "additionalProperties": False,
}

METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}

CONTAINER = {
    "type": "object",
    "required": ["name", "image", "resources"],
    "properties": {
        "name": {"type": "string"},
        "image": {"type": "string", "minLength": 1},
        "command": {"type": "array", "items": {"type": "string"}},
        "args": {"type": "array", "items": {"type": "string"}},
        "env": {"type": "array", "items": {"type": "object", "required": ["name"]}},
        "ports": {"type": "array", "items": {
            "type": "object", "required": ["containerPort"],
            "properties": {"containerPort": {"type": "integer", "minimum": 1, "maximum": 65535},
                           "name": {"type": "string", "maxLength": 15}},
            "additionalProperties": False}},
        "resources": {
            "type": "object", "required": ["requests", "limits"],
            "properties": {"requests": RESOURCE_LIST, "limits": RESOURCE_LIST},
            "additionalProperties": False,
        },
        "volumeMounts": {"type": "array", "items": {
            "type": "object", "required": ["name", "mountPath"],
            "properties": {"name": {"type": "string"}, "mountPath": {"type": "string", "pattern": "^/"},
                           "readOnly": {"type": "boolean"}},
            "additionalProperties": False}},
    },
    "additionalProperties": False,
}

VOLUME = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "configMap": {"type": "object", "required": ["name"]},
        "persistentVolumeClaim": {"type": "object", "required": ["claimName"]},
        "emptyDir": {"type": "object"},
        "secret": {"type": "object", "required": ["secretName"]},
    },
    "additionalProperties": False,
    "minProperties": 2,
}

POD_TEMPLATE = {
    "type": "object",
    "required": ["spec"],
    "properties": {"metadata": {"type": "object"}, "spec": {
        "type": "object", "required": ["containers"],
        "properties": {
            "containers": {"type": "array", "minItems": 1, "items": CONTAINER},
            "volumes": {"type": "array", "items": VOLUME},
            "nodeSelector": {"type": "object"},
            "tolerations": {"type": "array"},
        },
        "additionalProperties": False,
    }},
    "additionalProperties": False,
}

RAY_START_PARAMS = {"type": "object", "additionalProperties": {"type": "string"}}

RAY_CLUSTER_SPEC = {
    "type": "object",
    "required": ["rayVersion", "headGroupSpec", "workerGroupSpecs"],
    "properties": {
        "rayVersion": {"type": "string", "pattern": r"^[0-9]+\.[0-9]+\.[0-9]+$"},
        "authOptions": {"type": "object", "properties": {"mode": {"enum": ["disabled", "token"]},
                                                         "secretName": {"type": "string"}},
                        "additionalProperties": False},
        "enableInTreeAutoscaling": {"type": "boolean"},
        "headGroupSpec": {
            "type": "object", "required": ["rayStartParams", "template"],
            "properties": {"serviceType": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                           "rayStartParams": RAY_START_PARAMS, "template": POD_TEMPLATE},
            "additionalProperties": False,
        },
        "workerGroupSpecs": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["groupName", "replicas", "rayStartParams", "template"],
            "properties": {
                "groupName": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "replicas": {"type": "integer", "minimum": 0},
                "minReplicas": {"type": "integer", "minimum": 0},
                "maxReplicas": {"type": "integer", "minimum": 0},
                "rayStartParams": RAY_START_PARAMS,
                "template": POD_TEMPLATE,
            },
            "additionalProperties": False,
        }},
    },
    "additionalProperties": False,
}

RAY_CLUSTER = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {"apiVersion": {"const": "ray.io/v1"}, "kind": {"const": "RayCluster"},
                   "metadata": METADATA, "spec": RAY_CLUSTER_SPEC},
    "additionalProperties": False,
}

RAY_JOB = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "ray.io/v1"}, "kind": {"const": "RayJob"}, "metadata": METADATA,
        "spec": {
            "type": "object", "required": ["entrypoint"],
            "properties": {
                "entrypoint": {"type": "string", "minLength": 1},
                "submissionMode": {"enum": ["K8sJobMode", "HTTPMode", "SidecarMode", "InteractiveMode"]},
                "shutdownAfterJobFinishes": {"type": "boolean"},
                "ttlSecondsAfterFinished": {"type": "integer", "minimum": 0},
                "activeDeadlineSeconds": {"type": "integer", "minimum": 1},
                "backoffLimit": {"type": "integer", "minimum": 0},
                "runtimeEnvYAML": {"type": "string"},
                "rayClusterSpec": RAY_CLUSTER_SPEC,
                "clusterSelector": {"type": "object"},
            },
            "oneOf": [{"required": ["rayClusterSpec"]}, {"required": ["clusterSelector"]}],
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

CONFIG_MAP = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "data"],
    "properties": {"apiVersion": {"const": "v1"}, "kind": {"const": "ConfigMap"}, "metadata": METADATA,
                   "data": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}}},
    "additionalProperties": False,
}

_PEER = {"type": "object", "properties": {
    "podSelector": {"type": "object", "properties": {"matchLabels": {"type": "object"}}},
    "namespaceSelector": {"type": "object", "properties": {"matchLabels": {"type": "object"}}},
}, "additionalProperties": False, "minProperties": 1}

NETWORK_POLICY = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "networking.k8s.io/v1"}, "kind": {"const": "NetworkPolicy"}, "metadata": METADATA,
        "spec": {"type": "object", "required": ["podSelector"], "properties": {
            "podSelector": {"type": "object"},
            "policyTypes": {"type": "array", "items": {"enum": ["Ingress", "Egress"]}},
            "ingress": {"type": "array", "items": {"type": "object", "properties": {
                "from": {"type": "array", "items": _PEER}, "ports": {"type": "array"}},
                "additionalProperties": False}},
        }, "additionalProperties": False},
    },
    "additionalProperties": False,
}

BY_KIND = {"RayCluster": RAY_CLUSTER, "RayJob": RAY_JOB, "ConfigMap": CONFIG_MAP, "NetworkPolicy": NETWORK_POLICY}
