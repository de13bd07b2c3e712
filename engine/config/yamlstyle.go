package config

import "gopkg.in/yaml.v3"

const (
	yamlDoubleQuoted = yaml.DoubleQuotedStyle
	yamlSingleQuoted = yaml.SingleQuotedStyle
)
