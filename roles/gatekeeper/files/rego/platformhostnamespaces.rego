# No sharing of the host's PID, IPC or network namespace.
host_fields := ["hostPID", "hostIPC", "hostNetwork"]

violation[{"msg": msg}] {
	spec := pod_spec(input.review.object)
	field := host_fields[_]
	spec[field] == true
	msg := sprintf("%v: %v is true", [object_ref, field])
}
