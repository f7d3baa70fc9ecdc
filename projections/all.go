package projections

// All returns every projection of eventbase, in the order they apply.
func All() []Projection {
	return []Projection{AppsProjection{}, AdminsProjection{}, CollectionsProjection{}, DocumentsProjection{}, UsersProjection{}, OutboxProjection{}}
}
