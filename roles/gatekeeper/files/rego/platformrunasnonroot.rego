# Every container and init container runs as non-root: runAsNonRoot true (on the container, or
# on the pod when the container does not set it) and no effective runAsUser 0.
has_key(obj, key) {
	_ = obj[key]
}

container_context(c) = ctx {
	ctx := object.get(c, "securityContext", {})
}

pod_context = ctx {
	ctx := object.get(pod_spec(input.review.object), "securityContext", {})
}

non_root(c) {
	container_context(c).runAsNonRoot == true
}

non_root(c) {
	not has_key(container_context(c), "runAsNonRoot")
	pod_context.runAsNonRoot == true
}

root_user(c) {
	container_context(c).runAsUser == 0
}

root_user(c) {
	not has_key(container_context(c), "runAsUser")
	pod_context.runAsUser == 0
}

violation[{"msg": msg}] {
	containers[c]
	not non_root(c)
	not exempt_image(c.image)
	msg := sprintf("%v: container <%v> does not set runAsNonRoot: true", [object_ref, c.name])
}

violation[{"msg": msg}] {
	containers[c]
	root_user(c)
	not exempt_image(c.image)
	msg := sprintf("%v: container <%v> runs as user 0", [object_ref, c.name])
}
