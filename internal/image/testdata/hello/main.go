// A stand-in for bevygap in the image tests: small, so it builds fast.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	fmt.Printf("hello from the image uid=%d args=%s\n", os.Getuid(), strings.Join(os.Args[1:], " "))
}
