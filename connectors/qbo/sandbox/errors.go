package sandbox

// Error is the type of the sentinel errors of this package; being a string
// type, the sentinels are constants and compare with errors.Is.
type Error string

// Error implements the error interface.
func (e Error) Error() string { return string(e) }

// Sentinel errors, wrapped with context by the functions that return them.
const (
	// ErrInvalidOptions is wrapped by every error New returns for bad Options.
	ErrInvalidOptions Error = "sandbox: invalid options"
	// ErrUnknownEntity is returned for an entity name other than Customer,
	// Invoice or Item.
	ErrUnknownEntity Error = "sandbox: unknown entity"
	// ErrNotFound is returned by Update and Payload for an Id that does
	// not exist.
	ErrNotFound Error = "sandbox: record not found"
)
