# No privileged container (the exempt namespaces are excluded by the constraint's match).
violation[{"msg": msg}] {
	all_containers[c]
	c.securityContext.privileged == true
	not exempt_image(c.image)
	msg := sprintf("%v: container <%v> is privileged", [object_ref, c.name])
}
