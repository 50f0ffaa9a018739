# Every image comes from an allowed registry path. Image names without a registry host are
# completed the way the container runtime does (docker.io, docker.io/library).
is_registry(host) {
	contains(host, ".")
}

is_registry(host) {
	contains(host, ":")
}

is_registry(host) {
	host == "localhost"
}

full_name(image) = name {
	parts := split(image, "/")
	count(parts) > 1
	is_registry(parts[0])
	name := image
}

full_name(image) = name {
	parts := split(image, "/")
	count(parts) > 1
	not is_registry(parts[0])
	name := concat("", ["docker.io/", image])
}

full_name(image) = name {
	not contains(image, "/")
	name := concat("", ["docker.io/library/", image])
}

allowed(name) {
	repo := input.parameters.repos[_]
	startswith(name, repo)
}

violation[{"msg": msg}] {
	all_containers[c]
	not allowed(full_name(c.image))
	msg := sprintf("%v: container <%v> uses image <%v>, which is not from an allowed registry %v", [object_ref, c.name, c.image, input.parameters.repos])
}
