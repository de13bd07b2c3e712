package sandbox

import (
	"strconv"
	"unicode/utf8"
)

// Small append-style JSON writers. Payloads are written by hand rather than
// with encoding/json so that field order is fixed, money keeps its QBO
// spelling, and 200,000 invoices encode in well under a second.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Valid UTF-8 passes through;
// quotes, backslashes and control characters are escaped; invalid bytes
// become U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendMoney appends an amount held in cents as a JSON number with no
// trailing zeros after the point: 27500 → 275, 1275 → 12.75, 1250 → 12.5.
func appendMoney(b []byte, cents int64) []byte {
	if cents < 0 {
		b = append(b, '-')
		cents = -cents
	}
	b = strconv.AppendInt(b, cents/100, 10)
	frac := cents % 100
	switch {
	case frac == 0:
	case frac%10 == 0:
		b = append(b, '.', byte('0'+frac/10))
	default:
		b = append(b, '.', byte('0'+frac/10), byte('0'+frac%10))
	}
	return b
}

// appendKey appends "key": after an optional comma.
func appendKey(b []byte, comma bool, key string) []byte {
	if comma {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// appendStringField appends ,"key":"value".
func appendStringField(b []byte, comma bool, key, value string) []byte {
	return appendString(appendKey(b, comma, key), value)
}

// appendBoolField appends ,"key":true|false.
func appendBoolField(b []byte, comma bool, key string, v bool) []byte {
	return strconv.AppendBool(appendKey(b, comma, key), v)
}

// appendIntField appends ,"key":n.
func appendIntField(b []byte, comma bool, key string, n int64) []byte {
	return strconv.AppendInt(appendKey(b, comma, key), n, 10)
}

// appendMoneyField appends ,"key":<money>.
func appendMoneyField(b []byte, comma bool, key string, cents int64) []byte {
	return appendMoney(appendKey(b, comma, key), cents)
}

// appendRef appends ,"key":{"value":"v","name":"n"}; name is omitted when
// empty, as QBO does for refs without a display name.
func appendRef(b []byte, comma bool, key, value, name string) []byte {
	b = appendKey(b, comma, key)
	b = appendStringField(append(b, '{'), false, "value", value)
	if name != "" {
		b = appendStringField(b, true, "name", name)
	}
	return append(b, '}')
}
