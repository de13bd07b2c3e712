package sandbox

import (
	"strconv"
	"time"
)

// Rendering of entity payloads, shaped like the Intuit reference samples:
// Id, SyncToken and ref values are strings, money is a JSON number,
// MetaData times are Pacific with their offset, domain "QBO", sparse false.

// Account refs used on items and invoice lines.
const (
	incomeAccountID, incomeAccountName   = "79", "Sales of Product Income"
	expenseAccountID, expenseAccountName = "80", "Cost of Goods Sold"
	assetAccountID, assetAccountName     = "81", "Inventory Asset"
)

// appendCommon appends domain, sparse, Id, SyncToken and MetaData.
func (g *generator) appendCommon(b []byte, comma bool, id int64, m recordMeta) []byte {
	b = appendStringField(b, comma, "domain", "QBO")
	b = appendBoolField(b, true, "sparse", false)
	b = appendStringField(b, true, "Id", strconv.FormatInt(id, 10))
	b = appendStringField(b, true, "SyncToken", strconv.FormatInt(int64(m.syncToken), 10))
	b = appendKey(b, true, "MetaData")
	b = append(b, `{"CreateTime":"`...)
	b = time.Unix(m.created, 0).In(g.loc).AppendFormat(b, layoutMetaTime)
	b = append(b, `","LastUpdatedTime":"`...)
	b = time.Unix(m.updated, 0).In(g.loc).AppendFormat(b, layoutMetaTime)
	return append(b, `"}`...)
}

// appendAddress appends ,"key":{PhysicalAddress}.
func appendAddress(b []byte, key string, a address) []byte {
	b = appendKey(b, true, key)
	b = appendStringField(append(b, '{'), false, "Id", a.id)
	b = appendStringField(b, true, "Line1", a.line1)
	b = appendStringField(b, true, "City", a.city)
	b = appendStringField(b, true, "CountrySubDivisionCode", a.state)
	b = appendStringField(b, true, "PostalCode", a.zip)
	b = appendStringField(b, true, "Lat", a.lat)
	b = appendStringField(b, true, "Long", a.long)
	return append(b, '}')
}

// appendCustomer appends the JSON object of c.
func (g *generator) appendCustomer(b []byte, c *customerModel) []byte {
	b = appendBoolField(append(b, '{'), false, "Taxable", c.taxable)
	b = appendAddress(b, "BillAddr", c.addr)
	b = appendBoolField(b, true, "Job", false)
	b = appendBoolField(b, true, "BillWithParent", false)
	b = appendMoneyField(b, true, "Balance", c.balance)
	b = appendMoneyField(b, true, "BalanceWithJobs", c.balance)
	b = appendRef(b, true, "CurrencyRef", usdCode, usdName)
	b = appendStringField(b, true, "PreferredDeliveryMethod", c.delivery)
	b = appendBoolField(b, true, "IsProject", false)
	b = g.appendCommon(b, true, c.id, c.meta)
	b = appendStringField(b, true, "GivenName", c.given)
	b = appendStringField(b, true, "FamilyName", c.family)
	b = appendStringField(b, true, "FullyQualifiedName", c.displayName)
	b = appendStringField(b, true, "CompanyName", c.company)
	b = appendStringField(b, true, "DisplayName", c.displayName)
	b = appendStringField(b, true, "PrintOnCheckName", c.company)
	b = appendBoolField(b, true, "Active", c.meta.active)
	b = appendKey(b, true, "PrimaryPhone")
	b = append(appendStringField(append(b, '{'), false, "FreeFormNumber", c.phone), '}')
	b = appendKey(b, true, "PrimaryEmailAddr")
	b = append(appendStringField(append(b, '{'), false, "Address", c.email), '}')
	return append(b, '}')
}

// appendItem appends the JSON object of it.
func (g *generator) appendItem(b []byte, it *itemModel) []byte {
	b = appendStringField(append(b, '{'), false, "Name", it.name)
	b = appendStringField(b, true, "Description", it.description)
	b = appendBoolField(b, true, "Active", it.meta.active)
	b = appendStringField(b, true, "FullyQualifiedName", it.name)
	b = appendBoolField(b, true, "Taxable", it.taxable)
	b = appendMoneyField(b, true, "UnitPrice", it.price)
	b = appendStringField(b, true, "Type", it.itemType)
	b = appendRef(b, true, "IncomeAccountRef", incomeAccountID, incomeAccountName)
	if it.itemType != "Service" {
		b = appendStringField(b, true, "PurchaseDesc", it.description)
		b = appendMoneyField(b, true, "PurchaseCost", it.cost)
		b = appendRef(b, true, "ExpenseAccountRef", expenseAccountID, expenseAccountName)
	}
	inventory := it.itemType == "Inventory"
	if inventory {
		b = appendRef(b, true, "AssetAccountRef", assetAccountID, assetAccountName)
	}
	b = appendBoolField(b, true, "TrackQtyOnHand", inventory)
	if inventory {
		b = appendIntField(b, true, "QtyOnHand", it.qtyOnHand)
		b = appendDateField(b, true, "InvStartDate", it.invStart)
	}
	b = g.appendCommon(b, true, it.id, it.meta)
	return append(b, '}')
}

// appendDateField appends ,"key":"YYYY-MM-DD".
func appendDateField(b []byte, comma bool, key string, day int32) []byte {
	b = append(appendKey(b, comma, key), '"')
	return append(appendDay(b, day), '"')
}

// appendInvoice appends the JSON object of inv.
func (g *generator) appendInvoice(b []byte, inv *invoiceModel) []byte {
	cust := &g.customers[inv.customer]
	b = g.appendCommon(append(b, '{'), false, inv.id, inv.meta)
	if inv.crew != 0 {
		b = append(b, `,"CustomField":[{"DefinitionId":"1","Name":"Crew #","Type":"StringType","StringValue":"`...)
		b = append(strconv.AppendInt(b, inv.crew, 10), `"}]`...)
	}
	b = appendStringField(b, true, "DocNumber", strconv.FormatInt(1000+inv.id, 10))
	b = appendDateField(b, true, "TxnDate", inv.meta.txnDate)
	b = appendRef(b, true, "CurrencyRef", usdCode, usdName)
	b = append(b, `,"LinkedTxn":[`...)
	if inv.estimate != 0 {
		b = append(b, `{"TxnId":"`...)
		b = append(strconv.AppendInt(b, inv.estimate, 10), `","TxnType":"Estimate"}`...)
	}
	b = append(b, `],"Line":[`...)
	for j := range inv.lines {
		b = g.appendSalesLine(b, j, &inv.lines[j])
	}
	b = append(b, `{"Amount":`...)
	b = appendMoney(b, inv.subtotal)
	b = append(b, `,"DetailType":"SubTotalLineDetail","SubTotalLineDetail":{}}]`...)
	b = appendKey(b, true, "TxnTaxDetail")
	if inv.tax > 0 {
		b = append(b, `{"TxnTaxCodeRef":{"value":"2"},"TotalTax":`...)
		b = appendMoney(b, inv.tax)
		b = append(b, `,"TaxLine":[{"Amount":`...)
		b = appendMoney(b, inv.tax)
		b = append(b, `,"DetailType":"TaxLineDetail","TaxLineDetail":{"TaxRateRef":{"value":"3"},"PercentBased":true,"TaxPercent":`...)
		b = strconv.AppendInt(b, taxPercent, 10)
		b = append(b, `,"NetAmountTaxable":`...)
		b = appendMoney(b, inv.taxable)
		b = append(b, `}}]}`...)
	} else {
		b = append(b, `{"TotalTax":0}`...)
	}
	b = appendRef(b, true, "CustomerRef", strconv.FormatInt(cust.id, 10), cust.displayName)
	b = appendKey(b, true, "CustomerMemo")
	b = append(appendStringField(append(b, '{'), false, "value", memos()[inv.memo]), '}')
	b = appendKey(b, true, "BillAddr")
	b = appendStringField(append(b, '{'), false, "Id", strconv.FormatInt(2000+inv.id, 10))
	b = appendStringField(b, true, "Line1", cust.given+" "+cust.family)
	b = appendStringField(b, true, "Line2", cust.company)
	b = appendStringField(b, true, "Line3", cust.addr.line1)
	b = appendStringField(b, true, "Line4", cust.addr.city+", "+cust.addr.state+"  "+cust.addr.zip)
	b = appendStringField(b, true, "Lat", cust.addr.lat)
	b = appendStringField(b, true, "Long", cust.addr.long)
	b = append(b, '}')
	b = appendAddress(b, "ShipAddr", cust.addr)
	term := salesTerms()[inv.term]
	b = appendRef(b, true, "SalesTermRef", term.id, term.name)
	b = appendDateField(b, true, "DueDate", inv.dueDate)
	b = appendMoneyField(b, true, "TotalAmt", inv.total)
	b = appendBoolField(b, true, "ApplyTaxAfterDiscount", false)
	b = appendStringField(b, true, "PrintStatus", inv.printStatus)
	b = appendStringField(b, true, "EmailStatus", inv.emailStatus)
	b = appendKey(b, true, "BillEmail")
	b = append(appendStringField(append(b, '{'), false, "Address", cust.email), '}')
	b = appendMoneyField(b, true, "Balance", inv.balance)
	b = appendMoneyField(b, true, "Deposit", 0)
	return append(b, '}')
}

// appendSalesLine appends one SalesItemLineDetail line followed by a comma
// (the SubTotalLineDetail line always follows).
func (g *generator) appendSalesLine(b []byte, j int, l *lineModel) []byte {
	it := &g.items[l.item]
	b = appendStringField(append(b, '{'), false, "Id", strconv.Itoa(j+1))
	b = appendIntField(b, true, "LineNum", int64(j+1))
	b = appendStringField(b, true, "Description", it.description)
	b = appendMoneyField(b, true, "Amount", l.amount)
	b = append(b, `,"DetailType":"SalesItemLineDetail","SalesItemLineDetail":{`...)
	b = appendRef(b, false, "ItemRef", strconv.FormatInt(it.id, 10), it.name)
	b = appendMoneyField(b, true, "UnitPrice", it.price)
	b = appendIntField(b, true, "Qty", l.qty)
	taxCode := "NON"
	if it.taxable {
		taxCode = "TAX"
	}
	b = appendRef(b, true, "TaxCodeRef", taxCode, "")
	return append(b, `}},`...)
}
