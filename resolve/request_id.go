package resolve

// WithRequestID returns a copy of e whose errors carry extensions.requestId = id, so that a
// client can quote the id of a failed request to an operator; e itself (which may be
// shared, e.g. by a cached plan's error) is not changed. An empty id returns e.
func (e *RequestError) WithRequestID(id string) *RequestError {
	if id == "" {
		return e
	}
	out := &RequestError{Errors: make([]GraphQLError, len(e.Errors)), Status: e.Status}
	for i, err := range e.Errors {
		ext := make(map[string]any, len(err.Extensions)+1)
		for k, v := range err.Extensions {
			ext[k] = v
		}
		ext["requestId"] = id
		err.Extensions = ext
		out.Errors[i] = err
	}
	return out
}
