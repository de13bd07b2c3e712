package sandbox

import (
	"fmt"
	"strings"
)

// entityKind identifies one of the served entities.
type entityKind int

const (
	kindCustomer entityKind = iota
	kindInvoice
	kindItem
	numKinds
)

// String returns the QBO spelling of the entity name.
func (k entityKind) String() string {
	switch k {
	case kindCustomer:
		return EntityCustomer
	case kindInvoice:
		return EntityInvoice
	case kindItem:
		return EntityItem
	default:
		return fmt.Sprintf("entityKind(%d)", int(k))
	}
}

// nameList reports whether the entity is a QBO name-list entity, which has an
// Active flag and hides inactive rows by default.
func (k entityKind) nameList() bool { return k == kindCustomer || k == kindItem }

// entityKindByName resolves an entity name case-insensitively.
func entityKindByName(name string) (entityKind, bool) {
	switch strings.ToLower(name) {
	case "customer":
		return kindCustomer, true
	case "invoice":
		return kindInvoice, true
	case "item":
		return kindItem, true
	default:
		return 0, false
	}
}

// lookupKind is entityKindByName with an ErrUnknownEntity error.
func lookupKind(name string) (entityKind, error) {
	k, ok := entityKindByName(name)
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownEntity, name)
	}
	return k, nil
}
