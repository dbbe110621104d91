package check_test

import "regexp"

var portRE = regexp.MustCompile(`127\.0\.0\.1:\d+`)
