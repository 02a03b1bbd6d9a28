package resolve

// preparedOperation holds the cached, planned form of an operation.
type preparedOperation struct{}
