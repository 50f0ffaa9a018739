# Shared by every template of the library (inlined into each, Gatekeeper evaluates them apart).
# The pod spec of the object under review: a Pod, a workload's pod template, or a CronJob's.
pod_spec(obj) = spec {
	obj.kind == "Pod"
	spec := obj.spec
}

pod_spec(obj) = spec {
	obj.kind != "Pod"
	obj.kind != "CronJob"
	spec := obj.spec.template.spec
}

pod_spec(obj) = spec {
	obj.kind == "CronJob"
	spec := obj.spec.jobTemplate.spec.template.spec
}

# Containers and init containers (what resources and security contexts apply to).
containers[c] {
	c := pod_spec(input.review.object).containers[_]
}

containers[c] {
	c := pod_spec(input.review.object).initContainers[_]
}

# Every container including ephemeral (debug) containers.
all_containers[c] {
	containers[c]
}

all_containers[c] {
	c := pod_spec(input.review.object).ephemeralContainers[_]
}

# Image prefixes a constraint exempts from its check.
exempt_image(image) {
	prefix := input.parameters.exemptImages[_]
	startswith(image, prefix)
}

object_ref = ref {
	ref := sprintf("%v %v", [input.review.object.kind, input.review.object.metadata.name])
}
