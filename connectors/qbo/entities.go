package qbo

import "strings"

// entities maps lower-case QBO entity names to their canonical spelling,
// which is also the key of the rows in a query response. nameList marks
// the name-list entities, whose inactive records QBO hides unless a query
// asks for them; transaction entities have no Active field at all, so the
// Active clause must not be sent for them.
var entities = map[string]struct {
	canonical string
	nameList  bool
}{
	"account": {"Account", true}, "bill": {"Bill", false}, "billpayment": {"BillPayment", false},
	"class": {"Class", true}, "creditmemo": {"CreditMemo", false}, "customer": {"Customer", true},
	"department": {"Department", true}, "deposit": {"Deposit", false}, "employee": {"Employee", true},
	"estimate": {"Estimate", false}, "invoice": {"Invoice", false}, "item": {"Item", true},
	"journalentry": {"JournalEntry", false}, "payment": {"Payment", false}, "paymentmethod": {"PaymentMethod", true},
	"purchase": {"Purchase", false}, "purchaseorder": {"PurchaseOrder", false}, "refundreceipt": {"RefundReceipt", false},
	"salesreceipt": {"SalesReceipt", false}, "taxcode": {"TaxCode", true}, "term": {"Term", true},
	"timeactivity": {"TimeActivity", false}, "transfer": {"Transfer", false}, "vendor": {"Vendor", true},
	"vendorcredit": {"VendorCredit", false},
}

// canonicalEntity returns the canonical spelling of an entity name, whether
// it is known, and whether it is a name-list entity.
func canonicalEntity(name string) (canonical string, known, nameList bool) {
	e, ok := entities[strings.ToLower(name)]
	if !ok {
		return name, false, false
	}
	return e.canonical, true, e.nameList
}
