# Images are pinned: a tag other than `latest`, or a digest. No tag means `latest`.
last_segment(image) = last {
	parts := split(image, "/")
	last := parts[count(parts) - 1]
}

violation[{"msg": msg}] {
	all_containers[c]
	not contains(c.image, "@")
	not contains(last_segment(c.image), ":")
	msg := sprintf("%v: container <%v> uses image <%v> without a tag (that is :latest)", [object_ref, c.name, c.image])
}

violation[{"msg": msg}] {
	all_containers[c]
	not contains(c.image, "@")
	endswith(last_segment(c.image), ":latest")
	msg := sprintf("%v: container <%v> uses the latest tag <%v>", [object_ref, c.name, c.image])
}
