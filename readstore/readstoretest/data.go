package readstoretest

// The shared dataset: the same queries must return the same documents in
// the same order from every adapter. Expected answers are MongoDB's, written
// out by hand (and cross-checked against query.Match and query.CompareDocs
// in this package's own tests).

// products mixes types on purpose: price is a number in most documents but
// also a string, a boolean, an array and missing; arrays of scalars, arrays
// of objects, nested objects, null and missing fields all appear.
var products = []string{
	`{"_id":"p01","name":"apple","price":1.5,"qty":10,"tags":["fruit","red"],"dims":{"w":1,"h":2},"stock":[{"loc":"a","n":5},{"loc":"b","n":0}],"active":true,"note":null}`,
	`{"_id":"p02","name":"banana","price":0.5,"qty":0,"tags":["fruit","yellow"],"dims":{"w":1,"h":5},"stock":[{"loc":"a","n":1}],"active":true}`,
	`{"_id":"p03","name":"cherry","price":3,"qty":100,"tags":["fruit","red","small"],"active":false,"note":"seasonal"}`,
	`{"_id":"p04","name":"durian","price":12.25,"tags":[],"dims":{"w":3,"h":3},"active":false}`,
	`{"_id":"p05","name":"Eggplant","price":2,"qty":7,"tags":["veg","purple"],"stock":[{"loc":"b","n":2},{"loc":"c","n":9}],"note":null}`,
	`{"_id":"p06","name":"fig","price":"n/a","qty":3,"tags":"fruit","dims":{"w":0.5,"h":0.5},"active":true}`,
	`{"_id":"p07","name":"grape","price":4,"qty":50,"tags":["fruit",["nested"]],"scores":[3,8,1],"active":true}`,
	`{"_id":"p08","name":"honeydew","qty":1,"scores":[],"dims":{"w":2},"active":null}`,
	`{"_id":"p09","name":"kiwi","price":2,"qty":7,"tags":["fruit","green"],"scores":[5],"meta":{"origin":{"country":"NZ"}}}`,
	`{"_id":"p10","name":"lime","price":0.25,"qty":200,"tags":["fruit","green","sour"],"scores":[9,2],"meta":{"origin":{"country":"MX"}},"active":true}`,
	`{"_id":"p11","name":"mango","price":true,"qty":-3,"tags":["fruit"],"meta":{"origin":"IN"}}`,
	`{"_id":"p12","name":"nut","price":[1,6],"qty":5.5,"tags":["snack"],"stock":[{"loc":"a"},{"loc":"c","n":4}]}`,
}

// productIndexes are the fields the indexed runs of the suite index. qty,
// name, active, dims.h and meta.origin.country only ever hold scalars; price,
// tags, scores and stock.n meet arrays.
var productIndexes = []string{"price", "qty", "name", "active", "dims.h", "scores", "tags", "stock.n", "meta.origin.country"}

var all = []string{"p01", "p02", "p03", "p04", "p05", "p06", "p07", "p08", "p09", "p10", "p11", "p12"}

// filterCases are filters over products and the ids they select, in _id order.
var filterCases = []struct {
	filter string
	want   []string
}{
	{`{}`, all},
	{`{"name":"kiwi"}`, []string{"p09"}},
	{`{"price":2}`, []string{"p05", "p09"}},
	{`{"price":{"$gt":2}}`, []string{"p03", "p04", "p07", "p12"}},
	{`{"price":{"$gte":1,"$lt":3}}`, []string{"p01", "p05", "p09", "p12"}},
	{`{"price":{"$lt":1}}`, []string{"p02", "p10"}},
	{`{"price":{"$gt":"a"}}`, []string{"p06"}},
	{`{"price":{"$gte":false}}`, []string{"p11"}},
	{`{"price":{"$exists":false}}`, []string{"p08"}},
	{`{"price":{"$ne":2}}`, []string{"p01", "p02", "p03", "p04", "p06", "p07", "p08", "p10", "p11", "p12"}},
	{`{"price":{"$in":[0.5,"n/a",true]}}`, []string{"p02", "p06", "p11"}},
	{`{"price":{"$nin":[0.5,1.5]}}`, []string{"p03", "p04", "p05", "p06", "p07", "p08", "p09", "p10", "p11", "p12"}},
	{`{"price":[1,6]}`, []string{"p12"}},
	{`{"price":{"$in":[]}}`, []string{}},
	{`{"note":null}`, []string{"p01", "p02", "p04", "p05", "p06", "p07", "p08", "p09", "p10", "p11", "p12"}},
	{`{"note":{"$exists":true}}`, []string{"p01", "p03", "p05"}},
	{`{"note":{"$ne":null}}`, []string{"p03"}},
	{`{"active":true}`, []string{"p01", "p02", "p06", "p07", "p10"}},
	{`{"active":{"$ne":true}}`, []string{"p03", "p04", "p05", "p08", "p09", "p11", "p12"}},
	{`{"active":false}`, []string{"p03", "p04"}},
	{`{"active":null}`, []string{"p05", "p08", "p09", "p11", "p12"}},
	{`{"tags":"red"}`, []string{"p01", "p03"}},
	{`{"tags":"fruit"}`, []string{"p01", "p02", "p03", "p06", "p07", "p09", "p10", "p11"}},
	{`{"tags":["fruit","red"]}`, []string{"p01"}},
	{`{"tags":["nested"]}`, []string{"p07"}},
	{`{"tags":{"$size":0}}`, []string{"p04"}},
	{`{"tags":{"$size":2}}`, []string{"p01", "p02", "p05", "p07", "p09"}},
	{`{"tags":{"$all":["fruit","green"]}}`, []string{"p09", "p10"}},
	{`{"tags":{"$all":[]}}`, []string{}},
	{`{"tags":{"$in":["purple","sour"]}}`, []string{"p05", "p10"}},
	{`{"tags":{"$nin":["fruit"]}}`, []string{"p04", "p05", "p08", "p12"}},
	{`{"tags":{"$regex":"^gr"}}`, []string{"p09", "p10"}},
	{`{"name":{"$regex":"^e","$options":"i"}}`, []string{"p05"}},
	{`{"name":{"$regex":"an"}}`, []string{"p02", "p04", "p05", "p11"}},
	{`{"name":{"$not":{"$regex":"a"}}}`, []string{"p03", "p06", "p08", "p09", "p10", "p12"}},
	{`{"name":{"$gte":"m","$lt":"n"}}`, []string{"p11"}},
	{`{"name":{"$lt":"b"}}`, []string{"p01", "p05"}},
	{`{"dims.w":1}`, []string{"p01", "p02"}},
	{`{"dims.h":{"$gte":3}}`, []string{"p02", "p04"}},
	{`{"dims":{"w":1,"h":2}}`, []string{"p01"}},
	{`{"dims":{"w":2}}`, []string{"p08"}},
	{`{"dims.h":{"$exists":false}}`, []string{"p03", "p05", "p07", "p08", "p09", "p10", "p11", "p12"}},
	{`{"stock.loc":"a"}`, []string{"p01", "p02", "p12"}},
	{`{"stock.n":{"$gt":4}}`, []string{"p01", "p05"}},
	{`{"stock.n":null}`, []string{"p03", "p04", "p06", "p07", "p08", "p09", "p10", "p11", "p12"}},
	{`{"stock.0.loc":"b"}`, []string{"p05"}},
	{`{"stock":{"$elemMatch":{"loc":"b","n":{"$gt":1}}}}`, []string{"p05"}},
	{`{"stock":{"$elemMatch":{"n":{"$exists":false}}}}`, []string{"p12"}},
	{`{"scores":{"$elemMatch":{"$gt":4,"$lt":9}}}`, []string{"p07", "p09"}},
	{`{"scores":{"$gt":4,"$lt":9}}`, []string{"p07", "p09", "p10"}},
	{`{"scores.1":8}`, []string{"p07"}},
	{`{"scores":{"$size":0}}`, []string{"p08"}},
	{`{"meta.origin.country":"NZ"}`, []string{"p09"}},
	{`{"meta.origin.country":{"$exists":true}}`, []string{"p09", "p10"}},
	{`{"meta.origin":"IN"}`, []string{"p11"}},
	{`{"$or":[{"qty":{"$lt":1}},{"name":"kiwi"}]}`, []string{"p02", "p09", "p11"}},
	{`{"$and":[{"tags":"fruit"},{"qty":{"$gte":50}}]}`, []string{"p03", "p07", "p10"}},
	{`{"qty":{"$not":{"$gt":5}}}`, []string{"p02", "p04", "p06", "p08", "p11"}},
	{`{"qty":{"$in":[7,5.5]}}`, []string{"p05", "p09", "p12"}},
	{`{"qty":{"$eq":7}}`, []string{"p05", "p09"}},
	{`{"qty":{"$lte":1}}`, []string{"p02", "p08", "p11"}},
	{`{"qty":{"$exists":true,"$ne":7}}`, []string{"p01", "p02", "p03", "p06", "p07", "p08", "p10", "p11", "p12"}},
	{`{"_id":"p03"}`, []string{"p03"}},
	{`{"_id":{"$in":["p01","p12","zz"]}}`, []string{"p01", "p12"}},
	{`{"_id":{"$gt":"p10"}}`, []string{"p11", "p12"}},
}

// sortCases are sorts (in the sort parameter's syntax), optionally with a
// filter and a limit, and the ids they return in order.
var sortCases = []struct {
	filter string
	sort   string
	limit  int
	want   []string
}{
	// Ascending: null and missing first, then numbers (an array by its
	// smallest element), strings, booleans; ties by _id.
	{``, "price", 0, []string{"p08", "p10", "p02", "p12", "p01", "p05", "p09", "p03", "p07", "p04", "p06", "p11"}},
	// Descending: an array by its largest element.
	{``, "-price", 0, []string{"p11", "p06", "p04", "p12", "p07", "p03", "p05", "p09", "p01", "p02", "p10", "p08"}},
	{``, "price", 3, []string{"p08", "p10", "p02"}},
	{``, "qty,-name", 0, []string{"p04", "p11", "p02", "p08", "p06", "p12", "p09", "p05", "p01", "p07", "p03", "p10"}},
	{``, "active,name", 0, []string{"p05", "p08", "p09", "p11", "p12", "p03", "p04", "p01", "p02", "p06", "p07", "p10"}},
	{``, "name", 0, []string{"p05", "p01", "p02", "p03", "p04", "p06", "p07", "p08", "p09", "p10", "p11", "p12"}},
	// An empty array sorts before null in both directions.
	{``, "-scores", 0, []string{"p10", "p07", "p09", "p01", "p02", "p03", "p04", "p05", "p06", "p11", "p12", "p08"}},
	{``, "scores", 0, []string{"p08", "p01", "p02", "p03", "p04", "p05", "p06", "p11", "p12", "p07", "p10", "p09"}},
	{``, "dims.h:desc,_id", 0, []string{"p02", "p04", "p01", "p06", "p03", "p05", "p07", "p08", "p09", "p10", "p11", "p12"}},
	{``, "-_id", 0, []string{"p12", "p11", "p10", "p09", "p08", "p07", "p06", "p05", "p04", "p03", "p02", "p01"}},
	{``, "stock.n", 0, []string{"p03", "p04", "p06", "p07", "p08", "p09", "p10", "p11", "p12", "p01", "p02", "p05"}},
	{`{"tags":"fruit"}`, "-qty", 4, []string{"p10", "p03", "p07", "p01"}},
	{`{"qty":{"$gt":3}}`, "qty", 0, []string{"p12", "p05", "p09", "p01", "p07", "p03", "p10"}},
	{`{"qty":{"$gt":3}}`, "-qty", 2, []string{"p10", "p03"}},
	{`{"name":{"$gte":"d"}}`, "-name", 3, []string{"p12", "p11", "p10"}},
}

// projectionCases select fields of one product.
var projectionCases = []struct {
	id     string
	fields []string
	want   string
}{
	{"p01", []string{"name", "dims.w", "stock.loc"}, `{"_id":"p01","name":"apple","dims":{"w":1},"stock":[{"loc":"a"},{"loc":"b"}]}`},
	{"p03", []string{"name", "dims.w", "stock.loc"}, `{"_id":"p03","name":"cherry"}`},
	{"p08", []string{"dims.h", "qty"}, `{"_id":"p08","qty":1,"dims":{}}`},
	{"p12", []string{"stock.n", "tags"}, `{"_id":"p12","tags":["snack"],"stock":[{},{"n":4}]}`},
	{"p07", []string{"_id"}, `{"_id":"p07"}`},
	{"p09", []string{"meta.origin.country"}, `{"_id":"p09","meta":{"origin":{"country":"NZ"}}}`},
}
