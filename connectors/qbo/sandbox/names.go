package sandbox

// Word pools for generated records. They are functions returning fresh
// arrays (constants cannot hold arrays) and include unicode, apostrophes,
// double quotes and a backslash so clients exercise their escaping.

// companyNames are customer company names, some borrowed from the Intuit
// sample company.
func companyNames() [40]string {
	return [...]string{
		"Amy's Bird Sanctuary", "Bill's Windsurf Shop", "Cool Cars", "Diego Rodriguez",
		"Dukes Basketball Camp", "Freeman Sporting Goods", "Geeta Kalapatapu", "Jeff's Jalopies",
		"Kookies by Kathy", "Mahoney Mugs", "Paulsen Medical Supplies", "Pye's Cakes",
		"Red Rock Diner", "Rondonuwu Fruit and Vegi", "Sonnenschein Family Store", "Sushi by Katsuyuki",
		"Travis Waldron", "Video Games by Dan", "Wedding Planning by Whitney", "Weiskopf Consulting",
		"Café Müller", "Ñandú Ltda.", "東京商事", "Zürich Bäckerei",
		"Smørrebrød ApS", "Łódź Trading", "Ünal Tekstil", "Ελληνικά Τρόφιμα",
		"Москва Импорт", "O'Brien & Sons", "Bob's \"Best\" Bikes", "Back\\Slash Tools",
		"Black Tie Catering", "Evergreen Landscaping", "Harbor Light Marine", "Pacific Pottery",
		"Sierra Solar", "Blue Heron B&B", "Crêperie Saint-Éloi", "São Paulo Café",
	}
}

// companySuffixes qualify company names so fewer need a disambiguating Id.
func companySuffixes() [8]string {
	return [...]string{"", " Inc.", " LLC", " West", " East", " & Co.", " Group", " Partners"}
}

// givenNames and familyNames build the contact person of a customer.
func givenNames() [16]string {
	return [...]string{
		"Bill", "Amy", "Diego", "Geeta", "Kathy", "Russ", "Travis", "Whitney",
		"José", "Zoë", "Søren", "Haruto", "Ana", "Mehmet", "Olga", "Nikos",
	}
}

func familyNames() [16]string {
	return [...]string{
		"Lucchini", "Lauterbach", "Rodriguez", "Kalapatapu", "Sonnenschein", "Waldron", "Whitney", "Müller",
		"García", "Nørgaard", "Tanaka", "Silva", "Yılmaz", "Ivanova", "Papadopoulos", "O'Connor",
	}
}

// city is one address template with real coordinates.
type city struct {
	Name, State, Zip string
	Lat, Long        float64
}

func cities() [12]city {
	return [...]city{
		{"Half Moon Bay", "CA", "94213", 37.4307072, -122.4295234},
		{"Middlefield", "CA", "94303", 37.4238562, -122.1141681},
		{"Bayshore", "CA", "94326", 37.7172931, -122.3972451},
		{"Sunnyvale", "CA", "94086", 37.3688301, -122.0363496},
		{"San Jose", "CA", "95123", 37.2450123, -121.8344917},
		{"Portland", "OR", "97205", 45.5189466, -122.6893893},
		{"Seattle", "WA", "98101", 47.6101497, -122.3420645},
		{"Reno", "NV", "89501", 39.5261206, -119.8126581},
		{"Phoenix", "AZ", "85004", 33.4517033, -112.0685226},
		{"Austin", "TX", "78701", 30.2711286, -97.7436995},
		{"Boise", "ID", "83702", 43.6166163, -116.200886},
		{"Salt Lake City", "UT", "84111", 40.7563925, -111.8848617},
	}
}

func streets() [10]string {
	return [...]string{
		"Ocean Dr.", "Cypress Hill Ave.", "Main St.", "Market Blvd.", "Elm Rd.",
		"Harbor Way", "Sunset Blvd.", "Pine Ct.", "Redwood Pkwy.", "Mission St.",
	}
}

// itemNames are item names; the item Type is drawn separately.
func itemNames() [30]string {
	return [...]string{
		"Rock Fountain", "Pump", "Garden Design", "Installation", "Maintenance & Repair",
		"Sprinklers", "Sprinkler Pipes", "Sprinkler Heads", "Trimming", "Concrete",
		"Lighting", "Soil", "Pest Control", "Hours", "Gardening",
		"Design", "Fountains", "Rocks", "Services", "Deck Lumber",
		"Café Beans", "Crème Brûlée Kit", "Bonsai 盆栽", "Piñata", "Smörgåsbord Platter",
		"Lawn \"Pro\" Mower", "Contractor's Fee", "Ölfilter", "Jalapeño Sauce", "Façade Paint",
	}
}

func itemQualifiers() [6]string {
	return [...]string{"", " Small", " Large", " Deluxe", " Standard", " Premium"}
}

// memos are customer-facing invoice memos.
func memos() [4]string {
	return [...]string{
		"Thank you for your business and have a great day!",
		"Payment due within 30 days. ¡Gracias!",
		"Please include the invoice number with your payment.",
		"Vielen Dank für Ihren Auftrag.",
	}
}
