# The object carries every required label, with a value matching its pattern when one is given.
violation[{"msg": msg}] {
	required := input.parameters.labels[_]
	provided := object.get(input.review.object.metadata, "labels", {})
	not provided[required.key]
	msg := sprintf("%v: missing the required label <%v>", [object_ref, required.key])
}

violation[{"msg": msg}] {
	required := input.parameters.labels[_]
	value := input.review.object.metadata.labels[required.key]
	pattern := object.get(required, "allowedRegex", "")
	pattern != ""
	not regex.match(pattern, value)
	msg := sprintf("%v: label <%v: %v> does not match <%v>", [object_ref, required.key, value, pattern])
}
