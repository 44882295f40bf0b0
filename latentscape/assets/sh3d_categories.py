"""Fine categories for the Sweet Home 3D furniture catalogues, from model names.

Each rule is (category, words): a model belongs to the first category one of
whose words (or phrases) appears in its lower-cased English name, as whole
words. Models matching no rule are left out of the library (listed by
`latentscape assets list --json` under "unmapped"). The order matters:
"coffee table" must be tried before "table", "armchair" before "chair", "table lamp" is a lamp.
"""

RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("armchair", ("armchair", "arm chair", "recliner")),
    ("office_chair", ("office chair", "desk chair", "swivel chair")),
    ("sofa", ("sofa", "couch", "loveseat", "settee", "futon")),
    ("lamp", ("lamp", "lamps", "chandelier", "lantern", "spotlight", "floor light", "ceiling light", "wall light")),
    ("stool", ("stool",)),
    ("bench", ("bench",)),
    ("chair", ("chair", "chairs")),
    ("coffee_table", ("coffee table", "low table", "side table", "end table", "night table", "bedside table")),
    ("desk", ("desk",)),
    ("table", ("table", "tables")),
    ("bed", ("bed", "bunk", "crib", "cradle")),
    ("wardrobe", ("wardrobe", "closet", "armoire")),
    ("bookcase", ("bookcase", "bookshelf", "bookshelves", "shelves", "shelf", "shelving")),
    ("cabinet", ("cabinet", "cupboard", "dresser", "sideboard", "chest", "drawers", "buffet", "commode", "unit")),
    ("tree", ("tree", "pine", "palm", "oak", "birch", "fir")),
    ("plant", ("plant", "plants", "ficus", "flower", "flowers", "cactus", "bush", "hedge", "fern", "bamboo", "shrub",
               "bonsai", "orchids", "yucca", "tulips", "lily", "spathiphyllum")),
    ("car", ("car", "sedan", "suv", "taxi", "convertible", "coupe", "hatchback", "limousine", "beetle", "ford")),
    ("truck", ("truck", "van", "bus", "pickup", "lorry", "tractor")),
    ("motorbike", ("motorbike", "motorcycle", "scooter", "yamaha", "vespa")),
    ("bicycle", ("bicycle", "bike")),
    ("door", ("door", "doors", "gate")),
    ("window", ("window", "windows", "skylight")),
    ("toilet", ("toilet", "toilets", "wc", "urinal", "bidet")),
    ("washbasin", ("washbasin", "sink", "basin", "vanity")),
    ("bathtub", ("bathtub", "bath", "tub", "jacuzzi")),
    ("shower", ("shower",)),
    ("stove", ("stove", "cooker", "oven", "hob", "range", "cooktop", "microwave")),
    ("fridge", ("fridge", "refrigerator", "freezer")),
    ("washing_machine", ("washing machine", "washer", "dryer", "dishwasher")),
    ("tv", ("tv", "television", "screen", "monitor")),
    ("computer", ("computer", "laptop", "pc", "keyboard", "printer", "imac", "ibook")),
    ("piano", ("piano", "keyboard instrument")),
    ("radiator", ("radiator", "heater")),
    ("electrical", ("plug", "socket", "switch", "rj45", "outlet")),
    ("railing", ("railing", "fence", "balustrade")),
    ("stairs", ("stairs", "staircase", "stair", "steps", "ladder")),
    ("vase", ("vase", "urn", "pot")),
    ("wine_glass", ("wine glass", "wine glasses", "champagne glass", "goblet")),
    ("bottle", ("bottle", "bottles", "wine", "jar")),
    ("mug", ("mug", "mugs")),
    ("teapot", ("teapot", "kettle")),
    ("cup", ("cup", "cups", "glass", "glasses")),
    ("bowl", ("bowl", "plate", "dish", "tray")),
    ("box", ("box", "boxes", "crate", "carton", "case", "suitcase")),
    ("clock", ("clock", "watch")),
    ("mirror", ("mirror",)),
    ("rug", ("rug", "carpet", "mat")),
    ("curtain", ("curtain", "curtains", "blind", "blinds")),
    ("fireplace", ("fireplace", "chimney")),
    ("animal", ("horse", "dog", "cat", "cow", "bird", "fish", "duck", "bulldog", "deer", "chicken")),
    ("tool", ("tool", "shovel", "hammer", "saw", "drill", "rake", "wrench", "screwdriver")),
    ("knife", ("knife", "knives", "fork", "spoon", "cutlery")),
    ("fruit", ("apple", "banana", "orange", "fruit", "pear", "lemon")),
    ("basket", ("basket", "bin", "trash", "dustbin", "wastebasket")),
    ("candle", ("candle", "candlestick", "candles")),
    ("instrument", ("guitar", "violin", "drum", "drums", "cello", "harp")),
    ("pool", ("pool", "swimming")),
    ("sport", ("ball", "goal", "tennis", "basketball", "football", "billiard", "ping pong")),
    ("towel", ("towel", "towels")),
    ("phone", ("phone", "telephone", "iphone")),
    ("clothes", ("clothes", "shirt", "skirt", "dress", "coat", "jacket", "trousers", "shoes", "slippers")),
    ("rock", ("rock", "stone", "stones", "logs")),
    ("person", ("female", "male", "man", "woman", "boy", "girl", "person", "mannequin", "people")),
)


# Phrases that veto a category for a name, so that the next rule can match
# ("hot dog" is not an animal, "fork lift" is not cutlery).
EXCLUDE: dict[str, tuple[str, ...]] = {
    "animal": ("hot dog", "roasted chicken", "clothes horse", "dog house", "rocking horse"),
    "cup": ("cup cake",),
    "knife": ("fork lift",),
    "rock": ("grill",),
    "fruit": ("iphone", "ibook", "imac"),
}
