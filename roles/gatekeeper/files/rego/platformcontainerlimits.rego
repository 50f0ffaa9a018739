# Every container and init container declares CPU and memory limits (and requests if asked).
resource_kinds := ["cpu", "memory"]

violation[{"msg": msg}] {
	containers[c]
	r := resource_kinds[_]
	not c.resources.limits[r]
	msg := sprintf("%v: container <%v> has no %v limit", [object_ref, c.name, r])
}

violation[{"msg": msg}] {
	input.parameters.requireRequests == true
	containers[c]
	r := resource_kinds[_]
	not c.resources.requests[r]
	msg := sprintf("%v: container <%v> has no %v request", [object_ref, c.name, r])
}
