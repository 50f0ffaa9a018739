# Every container and init container runs with a read-only root filesystem.
violation[{"msg": msg}] {
	containers[c]
	not c.securityContext.readOnlyRootFilesystem == true
	not exempt_image(c.image)
	msg := sprintf("%v: container <%v> does not set readOnlyRootFilesystem: true", [object_ref, c.name])
}
