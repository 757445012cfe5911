// Package layering holds roads' import rules and the test that enforces them
// (layering_test.go): every package of the module may import only the roads
// packages its row of the table allows, so the graph stays the one the
// README's layout paragraph describes. A new package, or a new import
// between roads packages, must be added to the table on purpose.
package layering
