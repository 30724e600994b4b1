#!/usr/bin/env python3
"""Generate naniGPT's built-in corpus: about 1 MB of synthetic English play dialogue.

    .venv/bin/python scripts/make_corpus.py            # rewrite nanigpt/data/corpus/plays.txt.gz
    .venv/bin/python scripts/make_corpus.py --stats    # and print size, entropy, gzip ratio
    .venv/bin/python scripts/make_corpus.py --out /tmp/plays.txt   # plain text elsewhere

Every word comes from the lists below and every sentence from the small grammar below, driven by
one `random.Random(SEED)`: no text is copied from anywhere, so the corpus carries no copyright.
The output depends only on this file (standard library only, no set iteration, no hashing), so it
is byte-identical on every machine and Python >= 3.11; tests/test_corpus.py checks that.

Why a grammar rather than random words: a small char-level GPT should have real structure to
learn at every scale: spelling and inflection (plurals, verb forms, a/an), word order with
agreement, punctuation and capitals, speaker lines that repeat within a scene, vocatives that fit
the person addressed, and the layout of acts, scenes and stage directions.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import math
import random
import re
import sys
from collections import Counter
from pathlib import Path

SEED = 1606  # fixed forever: changing it changes every byte, and the pinned hash in the tests
TARGET_BYTES = 1_000_000  # about tinyshakespeare's size: the scale the default preset is tuned for
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "nanigpt" / "data" / "corpus" / "plays.txt.gz"


# ---------------------------------------------------------------------------------------------
# Lexicon. Within each list, common words come first: picks are Zipf-weighted by position, as in
# real text, so that a model sees frequent words often and rare ones a handful of times.
# Nouns are written "singular" or "singular/plural" where the plural is irregular.
# ---------------------------------------------------------------------------------------------

PERSONS = """
lord lady king queen prince princess duke duchess friend father mother son daughter brother sister
man/men woman/women child/children knight soldier servant master mistress captain messenger enemy
foe maid maiden gentleman/gentlemen boy girl youth wife/wives husband cousin uncle nephew niece
aunt widow citizen stranger traveller pilgrim shepherd shepherdess farmer merchant sailor
fisherman/fishermen hunter archer guard sentinel porter nurse physician priest friar monk nun
bishop abbot hermit scholar tutor poet player fool jester clown beggar thief/thieves villain
traitor rebel tyrant usurper heir orphan bride bridegroom lover rival guest host hostess innkeeper
tailor smith baker miller weaver butcher carpenter mason gardener cook steward chamberlain courtier
counsellor minister ambassador envoy spy prisoner jailer executioner judge magistrate lawyer clerk
constable sheriff mayor alderman peasant labourer kinsman/kinsmen kinswoman/kinswomen neighbour
companion comrade ally champion warrior hero/heroes coward knave rogue rascal wretch fiend witch
wizard prophet soothsayer ghost spirit angel devil saint sinner martyr pirate outlaw exile wanderer
infant babe lad lass fellow emperor empress general lieutenant sergeant herald squire page esquire
earl count countess baron baroness marquess viscount chancellor treasurer secretary keeper warden
forester woodman/woodmen ploughman/ploughmen milkmaid shepherd swineherd goatherd huntsman/huntsmen
falconer groom ostler drover carter boatman/boatmen ferryman/ferrymen fishwife/fishwives midwife/midwives
apothecary alchemist astrologer mountebank pedlar tinker minstrel piper fiddler dancer singer
"""

ANIMALS = """
horse dog hound lion wolf/wolves fox bear deer/deer stag hart hare boar ox/oxen bull cow calf/calves
sheep/sheep lamb goat ass mule eagle hawk falcon raven crow dove owl lark nightingale swan
goose/geese duck hen cock sparrow wren serpent snake adder toad frog worm fly/flies bee wasp spider
mouse/mice rat bat fish/fish whale dolphin crab beetle moth butterfly ant tiger cat kitten colt
mare steed charger pony hog swine/swine kid fawn doe buck badger otter weasel squirrel beaver
heron crane stork cuckoo magpie jackdaw starling pigeon vulture kite peacock pelican parrot
camel elephant leopard panther ape monkey unicorn dragon griffin basilisk viper scorpion
"""

THINGS = """
sword dagger knife/knives spear lance bow arrow shield helmet crown sceptre throne ring jewel pearl
diamond ruby necklace chain key lock door gate window wall bell candle torch lamp lantern book
letter scroll pen quill seal coin purse cup goblet bowl dish plate cloak coat gown robe hat cap
glove boot shoe belt girdle mask veil mirror glass comb basket barrel cask bottle flask box chest
coffer casket bed pillow blanket chair stool table bench cart wagon carriage ship boat oar sail
anchor rope net hook flag banner drum trumpet horn pipe lute harp fiddle whistle staff rod stick
club axe hammer nail saddle bridle spur whip wheel plough spade sickle scythe rake bucket pail
kettle pot pan loaf/loaves apple pear plum cherry grape fig olive nut egg cake pie feather pebble
brick tile bone skull coffin grave tomb urn shroud cross altar statue picture portrait map compass
clock hourglass candlestick parchment ribbon thread needle bracelet brooch locket token gift
present prize trophy relic treasure medal broom ladder cage trap bundle sack pack blade hilt
scabbard quiver bowstring arrowhead buckler gauntlet visor plume crest badge emblem garland
wreath bouquet posy nosegay handkerchief napkin cushion curtain tapestry carpet rug cradle
spindle distaff loom shuttle anvil bellows tongs chisel saw drill mallet
"""

PLACES = """
castle palace court hall chamber room garden orchard field meadow forest wood grove park street
road lane path bridge market church chapel abbey temple tavern inn house cottage hut cabin farm
barn mill stable kitchen cellar dungeon prison tower camp tent battlefield city town village
hamlet kingdom realm country province shore coast harbour port island isle valley hill mountain
cliff cave desert wilderness marsh swamp heath moor plain vineyard churchyard fountain courtyard
balcony passage corridor gallery library study bedchamber nursery lodging fortress citadel shop
forge monastery convent cloister hospital almshouse graveyard pasture glade thicket ford quay
wharf dock shipyard arsenal armoury treasury chancery council tollhouse gatehouse watchtower
battlement rampart moat drawbridge keep hall parlour pantry buttery scullery laundry dairy
brewery bakery granary storehouse warehouse marketplace square alley suburb border
frontier strait bay gulf cape headland lagoon estuary waterfall spring
"""

NATURE = """
sun moon star sky cloud wind rain storm tempest thunder snow frost fire flame smoke sea ocean wave
tide river stream brook lake pool rock stone tree oak willow elm pine cedar yew rose lily violet
daisy flower blossom bud leaf/leaves branch root thorn seed weed vine dawn morning evening night
day noon midnight twilight hour season summer autumn winter year month week shadow mist fog dew
world heaven earth rainbow comet planet meteor eclipse whirlwind gale breeze gust shower hail
flood torrent current ripple foam spray cloudburst thunderbolt sunrise sunset daybreak nightfall
dusk hedge bramble briar nettle fern reed rush heather clover primrose cowslip marigold pansy
poppy tulip laurel myrtle holly ivy mistletoe hawthorn birch beech ash/ashes chestnut apricot
"""

BODY = """
hand eye ear face head heart mouth lip tongue tooth/teeth cheek brow neck shoulder arm finger thumb
leg knee foot/feet heel back breast bosom tear voice breath soul mind wrist elbow ankle fist palm
 throat chin beard forehead eyelid lash vein sinew limb rib spine belly
"""

ABSTRACTS = """
thought dream hope fear doubt wish desire oath vow promise secret lie word tale story song poem
prayer curse blessing deed crime sin fault virtue vice error mistake plan plot scheme purpose
reason cause matter question answer quarrel battle war fight feud victory defeat triumph journey
voyage quest adventure task duty debt right wrong law rule custom habit fashion trick jest joke
riddle game sport feast banquet wedding funeral marriage birth death life/lives name fortune fate
destiny chance hazard danger peril trouble pain wound scar disease fever plague charm spell omen
sign message rumour report command order warning threat insult injury kindness favour memory
passion temper mood humour vision prophecy miracle mystery wonder marvel tragedy comedy
"""

MASS = """
love honour glory shame pride grief sorrow joy mirth woe despair mercy pity grace justice truth
wisdom folly madness courage valour anger wrath rage fury envy jealousy malice treason peace
silence music gold silver iron steel brass wine ale water bread meat cheese milk honey salt corn
wheat blood dust sand light darkness beauty age time wealth poverty sleep strength power fame
revenge vengeance blame guilt innocence loyalty faith friendship cruelty patience comfort counsel
advice news mischief happiness misery ambition liberty freedom nature hunger thirst labour rest
ruin health sickness leisure luck slander flattery treachery
remorse penance charity modesty humility vanity avarice greed sloth lust gluttony bliss
"""

PLACE_NAMES = """
Verona Padua Milan Venice Florence Naples Mantua Genoa Pisa Rome Athens Sparta Thebes Corinth
Ephesus Tyre Sidon Antioch Carthage Alexandria Cyprus Sicily Bohemia Navarre Burgundy Brittany
Normandy Gascony Aquitaine Anjou Flanders Paris Calais Orleans Rouen London York Dover Kent
Norfolk Suffolk Warwick Gloucester Lancaster Winchester Canterbury Bristol Scotland Denmark Norway
Vienna Cracow Ragusa Illyria Arden Elsinore
"""

ADJECTIVES = """
good great old young fair sweet noble gentle poor dear little true brave proud wise strong kind
cruel bitter cold dark bright high low long new false foul base holy cursed blessed happy sad merry
glad grim heavy pale red white black green golden silver grey warm hot cool wet dry soft hard
rough sharp dull deep wild fierce mighty weak strange rich rare common quiet silent still calm
loud swift slow quick honest wicked royal precious ancient humble valiant loyal faithful jealous
weary sick dead living lost lonely wretched bloody deadly fatal mortal heavenly gracious glorious
famous dreadful fearful terrible lovely beautiful pretty ugly grave solemn idle secret hidden open
empty full hollow naked bare tender fond constant steadfast stubborn patient eager fearless
hopeless helpless careless shameful shameless worthy unworthy vile innocent guilty just unjust
fine gallant hateful distant near foreign native broad narrow thick thin fat lean tall short wide
small large vast tiny mighty savage tame sacred divine earthly princely kingly courtly rustic
simple plain serious busy careful ripe rotten green blue yellow crimson purple scarlet azure sable
ivory ebony frozen burning gentle modest wanton chaste virtuous sinful pious devout godly ungodly
heathen sullen surly merciful merciless pitiful pitiless woeful joyful sorrowful mournful
dismal cheerful hopeful doubtful wrathful wistful watchful wakeful sleepless restless tireless
nameless friendless fatherless motherless homeless heartless headless lawless endless boundless
countless matchless peerless priceless worthless useless senseless witless thankless thankful
grateful ungrateful wilful dutiful bountiful plentiful beauteous piteous hideous righteous
courteous gorgeous furious curious anxious spacious vicious
 tedious envious zealous perilous marvellous wondrous monstrous dangerous treacherous
traitorous murderous valorous amorous ravenous venomous poisonous grievous lusty hasty nasty
crafty lofty stormy windy rainy cloudy misty frosty snowy icy sunny starry
shadowy rocky stony thorny woody grassy sandy dusty muddy salty hungry thirsty angry
sorry jolly silly lowly comely homely kindly friendly stately
portly sprightly unruly unseemly ghostly worldly saintly beastly manly
womanly maidenly fatherly motherly brotherly sisterly cowardly knavish foolish childish
outlandish sluggish feverish peevish churlish boorish rakish impish elvish devilish fiendish
heavy-hearted light-hearted faint-hearted kind-hearted hard-hearted proud-hearted
absent ardent arrogant brilliant diligent elegant eloquent excellent
fragrant ignorant impatient impudent insolent magnificent malignant
pleasant radiant reverent vigilant violent abundant benevolent malevolent
able feeble subtle fickle nimble supple ample
"""

# Nature nouns that take "the" and stay singular (the sun), or go bare like mass nouns (thunder).
ONE_OF_A_KIND = frozenset("""
sun moon sky heaven earth world dawn noon midnight twilight daybreak nightfall dusk sunrise sunset
morning evening
""".split())
NATURE_MASS = frozenset("thunder snow frost fire smoke mist fog dew foam spray hail rain".split())

# Adverbs by where they sit: manner and time at the end of a clause, frequency before the verb,
# degree before an adjective.
MANNER_ADVERBS = """
well ill softly gently slowly swiftly quickly quietly loudly boldly bravely proudly humbly wisely
foolishly madly bitterly cruelly kindly fairly falsely truly dearly deeply sweetly sadly gladly
freely nobly basely openly secretly plainly rightly wrongly justly together alone apart away
aloud aloft apace amain straight hard fast long much little heavily lightly sorely faithfully
honestly gravely coldly warmly fiercely fondly tenderly carelessly patiently eagerly willingly
cheerfully mournfully wearily hastily silently surely certainly presently
"""
TIME_ADVERBS = """
now|today|tonight|again|once|twice|soon|here|there|hence|forth|forever|
evermore|hereafter|ere long|at last|at length|by and by|this night|this day|at dawn|at dusk|
at midnight|at noon|in the morning|before dawn|ere morning|ere night|within the hour|anon|betimes
"""
FREQ_ADVERBS = "never ever always often seldom still oft sometimes daily nightly already"
DEGREE_ADVERBS = "very most so too right passing wondrous exceeding full"

INTERJECTIONS = """
Alas|Nay|Ay|Why|Come|Well|Peace|Hark|Fie|Marry|Faith|Indeed|O|Ah|Lo|Look|Hush|Soft|Tush|Alack|
Prithee|Forsooth|In faith|By my troth|By heaven|Upon my life|Good heavens|Now|Then|Mark me|
Believe me|Trust me|Pardon me|In truth|By my soul|Heaven help us|Sooth
"""

NUMBERS = "two|three|four|five|six|seven|ten|twelve|twenty|forty|a hundred|a thousand|ten thousand"

# Verbs by frame. A frame is "subject:object": A animate, N nature, X abstract as subject; objects
# P person, T thing, X abstract, L place, D two objects (give him the cup), S a clause,
# V a to-infinitive, "-" none. A verb may sit in several frames.
VERB_FRAMES = {
    "A:-": """
        sleep weep laugh smile sigh die live pray kneel wait rest sing dance mourn grieve rejoice
        tremble sit stand wander roam return depart arrive fall rise wake dream speak jest fight hunt
        feast dine sup drink eat travel linger tarry climb swim groan moan cry call whisper listen
        obey yield repent frown blush stumble faint sicken recover prosper thrive fail perish
        starve hide retreat advance march hesitate pause sleep breathe rage rave dote blunder
        stray kneel bow stoop sin weep marvel wonder study labour toil strive quarrel prattle
        chatter mutter murmur stammer curse swear boast brag vanish hunger thirst
    """,
    "A:go": """
        go come run walk ride fly sail hasten hurry flee creep steal march haste journey travel
        ride gallop crawl wander roam return hie post
    """,
    "N:-": """
        shine blow fall flow burn rise set fade glow gleam glitter sparkle roar howl rage rumble
        pour drip freeze melt bloom blossom wither grow die sleep wake stir tremble shake darken
        vanish linger pass break sink swell whisper sigh weep murmur blaze smoulder flicker
    """,
    "A:T": """
        have take bring hold give keep find lose break carry seek bear wear draw raise lift drop throw
        cast hide bury steal buy sell mend forge sharpen polish fill empty open shut lock unlock
        seal burn kiss touch grasp clutch snatch seize fetch send offer yield deliver return
        receive guard use spend count weigh sign read write tear light strike drink eat taste
        smell see behold spy show want crave covet gather scatter build shake hang set lay wrap
        wash clean sweep paint carve weave spin sew pluck plant sow reap sharpen whet bend string
    """,
    "A:P": """
        love hate kill slay greet serve betray trust follow obey answer call meet marry wed woo
        court kiss embrace comfort console pity forgive pardon blame accuse curse bless praise
        flatter mock scorn deceive cheat rob wrong wound strike smite beat chase pursue banish
        summon command warn threaten fear defy challenge defend protect save rescue help aid
        succour guard honour reward punish free release welcome entertain teach instruct advise
        counsel persuade entreat beseech implore tempt provoke anger offend please amuse delight
        grieve trouble vex torment haunt remember forget know see hear find seek leave visit
        await expect crown depose murder poison bury mourn despise envy admire adore cherish
        hinder stay detain seize bind arrest examine question judge sentence hang pardon
    """,
    "A:X": """
        have fear know remember forget seek speak tell hear keep break make swear hide reveal confess
        deny prove doubt question plan plot devise suspect discover learn teach feel bear endure
        suffer love hate scorn shun avoid desire crave want win lose gain earn deserve owe pay
        avenge mourn lament bewail regret pursue pity share bring carry receive await expect
        forgive pardon prevent cause begin end finish sing recite
    """,
    "X:P": """
        trouble haunt wound follow comfort torment consume afflict overwhelm grieve vex move
        strike seize possess betray deceive guide lead wake pierce chill warm blind shame kill
        ruin save please delight fill break stir tempt drive keep undo attend befall become
        pursue await
    """,
    "N:P": """
        chill warm wake blind drown burn wet soak batter guide follow find greet await hide
        cover shelter carry strike kill
    """,
    "A:L": """
        leave visit enter guard rule defend seek reach cross besiege storm take hold keep govern
        search quit forsake approach watch see behold fortify burn sack spoil conquer win lose
        betray yield surrender cleanse restore inherit
    """,
    "A:D": "give send show tell bring lend offer owe teach promise pay sell leave hand grant deny",
    "A:S": """
        say swear think know believe fear hope dream feel hear see suspect vow confess deny perceive
        guess warrant doubt
    """,
    "A:V": """
        want wish long mean vow swear hope seek strive dare desire intend resolve choose refuse fear
        love hate promise purpose scorn learn
    """,
}
MOTION = {"A:go"}

# base past participle, for every irregular verb the frames use.
IRREGULAR_VERBS = """
be was been|have had had|do did done|go went gone|say said said|make made made|take took taken
come came come|see saw seen|know knew known|get got got|give gave given|find found found
think thought thought|tell told told|leave left left|feel felt felt|bring brought brought
begin began begun|keep kept kept|hold held held|write wrote written|stand stood stood
hear heard heard|let let let|mean meant meant|set set set|meet met met|run ran run|pay paid paid
sit sat sat|speak spoke spoken|lie lay lain|lead led led|read read read|grow grew grown
lose lost lost|fall fell fallen|send sent sent|build built built|draw drew drawn
break broke broken|spend spent spent|cut cut cut|rise rose risen|drive drove driven
buy bought bought|wear wore worn|choose chose chosen|seek sought sought|throw threw thrown
catch caught caught|win won won|forget forgot forgotten|lay laid laid|sell sold sold
fight fought fought|eat ate eaten|drink drank drunk|sing sang sung|ring rang rung|swim swam swum
fly flew flown|ride rode ridden|hide hid hidden|bite bit bitten|shake shook shaken
strike struck struck|swear swore sworn|tear tore torn|bear bore borne|steal stole stolen
weep wept wept|sleep slept slept|sweep swept swept|creep crept crept|kneel knelt knelt
feed fed fed|bleed bled bled|flee fled fled|spin spun spun|sink sank sunk|slay slew slain
shine shone shone|sting stung stung|swing swung swung|wring wrung wrung|cling clung clung
fling flung flung|spring sprang sprung|blow blew blown|forgive forgave forgiven
forsake forsook forsaken|freeze froze frozen|wake woke woken|beat beat beaten|bend bent bent
bind bound bound|dig dug dug|hang hung hung|hurt hurt hurt|lend lent lent|light lit lit
shoot shot shot|shut shut shut|smite smote smitten|spread spread spread|stick stuck stuck
string strung strung|swell swelled swollen|undo undid undone|wed wed wed|wind wound wound
behold beheld beheld|befall befell befallen|cast cast cast|burn burnt burnt|dream dreamt dreamt
learn learnt learnt|spoil spoilt spoilt|sew sewed sewn|sow sowed sown|show showed shown
become became become|teach taught taught|understand understood understood|deal dealt dealt
stride strode stridden|strive strove striven|weave wove woven|hie hied hied|withdraw withdrew withdrawn
"""

# Verbs that double their last consonant before -ed, -ing and -est (stop, stopped, stopping).
DOUBLING = (
    "stop beg plan drop grip hop nod rob rub shun skip slip step stir tap trip wed whip drag hug "
    "plot pat admit commit permit regret prefer abhor compel expel rebel control patrol forget "
    "begin swim run sit get cut put let set win spin dig shut bid rid spit quit knit sin chop "
    "prop stab grab strip sob plod trot fret wet pet mar scar spur stun"
).split()

# Words with a vowel letter but a consonant sound, and the reverse, for a/an.
A_BEFORE = ("one", "once", "unicorn", "union", "usurer", "usurper", "useful", "useless", "usual",
            "ewe", "eulogy", "unique", "universal", "uniform", "unity")
AN_BEFORE = ("hour", "honour", "honest", "heir", "honourable", "hourglass")

# Characters: name, sex (for my lord / madam), rank, role, and how others name them in speech.
CHARACTERS = """
KING HENRY|m|royal|king|King Henry
KING EDMUND|m|royal|king|King Edmund
KING LEONTES|m|royal|king|King Leontes
QUEEN MARGARET|f|royal|queen|Queen Margaret
QUEEN ISABEL|f|royal|queen|Queen Isabel
QUEEN HERMIONE|f|royal|queen|Queen Hermione
PRINCE ARTHUR|m|royal|prince|Prince Arthur
PRINCE FLORIZEL|m|royal|prince|Prince Florizel
PRINCESS KATHERINE|f|royal|princess|Princess Katherine
DUKE FREDERICK|m|noble|duke|Duke Frederick
DUKE ORSINO|m|noble|duke|Orsino
DUCHESS OF YORK|f|noble|duchess|the Duchess of York
LORD TALBOT|m|noble|lord|Lord Talbot
LORD HASTINGS|m|noble|lord|Hastings
LORD STANLEY|m|noble|lord|Lord Stanley
LADY ANNE|f|noble|lady|Lady Anne
LADY PERCY|f|noble|lady|Lady Percy
LADY MACDUFF|f|noble|lady|Lady Macduff
EARL OF WARWICK|m|noble|earl|Warwick
COUNT PARIS|m|noble|count|Paris
COUNTESS OLIVIA|f|noble|countess|Olivia
SIR TOBY|m|noble|knight|Sir Toby
SIR WALTER|m|noble|knight|Sir Walter
SIR JOHN|m|noble|knight|Sir John
ISABELLA|f|gentle|maid|Isabella
HELENA|f|gentle|maid|Helena
ROSALIND|f|gentle|maid|Rosalind
VIOLA|f|gentle|maid|Viola
BEATRICE|f|gentle|maid|Beatrice
CELIA|f|gentle|maid|Celia
MIRANDA|f|gentle|maid|Miranda
PERDITA|f|gentle|maid|Perdita
BENEDICK|m|gentle|gentleman|Benedick
LORENZO|m|gentle|gentleman|Lorenzo
SEBASTIAN|m|gentle|gentleman|Sebastian
ANTONIO|m|gentle|gentleman|Antonio
BASSANIO|m|gentle|gentleman|Bassanio
CLAUDIO|m|gentle|gentleman|Claudio
VALENTINE|m|gentle|gentleman|Valentine
LUCIO|m|gentle|gentleman|Lucio
HORATIO|m|gentle|gentleman|Horatio
FRIAR LAURENCE|m|common|friar|Friar Laurence
NURSE|f|common|nurse|the nurse
FOOL|m|common|fool|the fool
MESSENGER|m|common|messenger|the messenger
FIRST CITIZEN|m|common|citizen|the citizen
SECOND CITIZEN|m|common|citizen|the other citizen
FIRST SOLDIER|m|common|soldier|the soldier
SECOND SOLDIER|m|common|soldier|the other soldier
CAPTAIN|m|common|captain|the captain
GARDENER|m|common|gardener|the gardener
PORTER|m|common|porter|the porter
SHEPHERD|m|common|shepherd|the shepherd
"""

# ---------------------------------------------------------------------------------------------
# Morphology
# ---------------------------------------------------------------------------------------------

VOWELS = "aeiou"


def words(text: str) -> list[str]:
    """The words of a list, in order, each once."""
    return list(dict.fromkeys(text.split()))


def sibilant(w: str) -> bool:
    return w.endswith(("s", "x", "z", "ch", "sh"))


def cons_y(w: str) -> bool:
    return len(w) > 1 and w[-1] == "y" and w[-2] not in VOWELS


def plural(w: str) -> str:
    if sibilant(w):
        return w + "es"
    if cons_y(w):
        return w[:-1] + "ies"
    return w + "s"


def nouns(text: str) -> list[tuple[str, str]]:
    out = []
    for entry in words(text):
        sg, _, pl = entry.partition("/")
        out.append((sg, pl or plural(sg)))
    return out


class Verb:
    """All the forms of one verb: modern and archaic (thou speakest, he speaketh)."""

    __slots__ = ("base", "s", "past", "pp", "ing", "est", "eth")

    def __init__(self, base: str, past: str | None, pp: str | None) -> None:
        self.base = base
        dbl = base in DOUBLING
        stem = base + base[-1] if dbl else base
        if past is None:
            if base.endswith("e"):
                past = base + "d"
            elif cons_y(base):
                past = base[:-1] + "ied"
            else:
                past = stem + "ed"
            pp = past
        self.past, self.pp = past, pp
        self.s = {"be": "is", "have": "has", "do": "does", "go": "goes", "undo": "undoes"}.get(
            base, plural(base)
        )
        if base.endswith("ie"):
            self.ing = base[:-2] + "ying"
        elif base.endswith(("ee", "ye", "oe")) or base == "be":
            self.ing = base + "ing"
        elif base.endswith("e"):
            self.ing = base[:-1] + "ing"
        else:
            self.ing = stem + "ing"
        special2 = {"be": "art", "have": "hast", "do": "dost", "say": "sayest", "go": "goest"}
        special3 = {"be": "is", "have": "hath", "do": "doth", "say": "saith", "go": "goeth"}
        if base in special2:
            self.est, self.eth = special2[base], special3[base]
        elif base.endswith("e"):
            self.est, self.eth = base + "st", base + "th"
        elif cons_y(base):
            self.est, self.eth = base[:-1] + "iest", base[:-1] + "ieth"
        else:
            self.est, self.eth = stem + "est", stem + "eth"


def build_verbs() -> tuple[dict[str, Verb], dict[str, list[Verb]]]:
    irregular = {}
    for entry in IRREGULAR_VERBS.replace("\n", "|").split("|"):
        if entry.strip():
            base, past, pp = entry.split()
            irregular[base] = (past, pp)
    lexicon: dict[str, Verb] = {}
    for base in ("be", "have", "do"):
        lexicon[base] = Verb(base, *irregular[base])
    frames: dict[str, list[Verb]] = {}
    for frame, text in VERB_FRAMES.items():
        frames[frame] = []
        for base in words(text):
            if base not in lexicon:
                lexicon[base] = Verb(base, *irregular.get(base, (None, None)))
            frames[frame].append(lexicon[base])
    return lexicon, frames


def article(next_word: str) -> str:
    w = next_word.lower()
    if w.startswith(AN_BEFORE):
        return "an"
    if w[0] in VOWELS and not w.startswith(A_BEFORE):
        return "an"
    return "a"


def cap(s: str) -> str:
    """Capitalize the first letter, past a leading apostrophe: 'tis -> 'Tis."""
    i = 1 if s.startswith("'") else 0
    return s[:i] + s[i:i + 1].upper() + s[i + 1:]


def title(name: str) -> str:
    """KING HENRY -> King Henry, DUCHESS OF YORK -> Duchess of York."""
    return " ".join(w.lower() if w in ("OF", "THE") else w.capitalize() for w in name.split())


def roman(n: int) -> str:
    out = ""
    for value, digits in ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out, n = out + digits, n - value
    return out


# ---------------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------------


class Pool:
    """Zipf-weighted choice from a list: the k-th item is drawn with weight 1 / (k + offset)."""

    __slots__ = ("items", "cum")

    def __init__(self, items: list, offset: float = 6.0) -> None:
        self.items = list(items)
        total, self.cum = 0.0, []
        for k in range(len(self.items)):
            total += 1.0 / (k + offset)
            self.cum.append(total)

    def pick(self, rng: random.Random):
        i = bisect.bisect_right(self.cum, rng.random() * self.cum[-1])
        return self.items[min(i, len(self.items) - 1)]  # r * total may round up to total


def weighted(rng: random.Random, table: dict):
    """One key of `table`, drawn with probability proportional to its value."""
    r = rng.random() * sum(table.values())
    for key, weight in table.items():
        r -= weight
        if r < 0:
            return key
    return key


class Character:
    __slots__ = ("name", "heading", "sex", "rank", "role", "spoken")

    def __init__(self, line: str) -> None:
        self.name, self.sex, self.rank, self.role, self.spoken = line.split("|")
        # Speech headings in title case, as in most plain-text plays: all-caps headings would
        # make a tenth of the corpus capitals and lift its unigram entropy well above English.
        self.heading = title(self.name)


# Pronoun forms by person: subject, object, possessive; agreement person for the verb.
PRONOUNS = {
    "I": ("I", "me", "my", "1s"),
    "thou": ("thou", "thee", "thy", "2t"),
    "you": ("you", "you", "your", "2y"),
    "he": ("he", "him", "his", "3s"),
    "she": ("she", "her", "her", "3s"),
    "it": ("it", "it", "its", "3s"),
    "we": ("we", "us", "our", "1p"),
    "they": ("they", "them", "their", "3p"),
}

OBJECT_PRONOUNS = ("me", "thee", "him", "her", "us", "them", "it", "you")
# The object pronoun that would need a reflexive after this subject.
REFLEXIVE = {"I": "me", "we": "us", "thou": "thee", "you": "you"}

MODALS = {  # modern, thou-form
    "will": "wilt", "shall": "shalt", "may": "mayst", "must": "must", "can": "canst",
    "would": "wouldst", "should": "shouldst", "could": "couldst", "might": "mightst",
}


class Speech:
    """Who speaks to whom: fixes thou or you, the vocative, and the archaic -eth rate."""

    __slots__ = ("speaker", "addressee", "thou", "eth", "others", "topics")

    def __init__(self, speaker, addressee, thou: bool, eth: float, others, topics: dict) -> None:
        self.speaker, self.addressee, self.thou, self.eth = speaker, addressee, thou, eth
        self.others, self.topics = others, topics  # others: whom the speaker may name


class Grammar:
    """Sentences of an English-like play, drawn from the lexicon with agreement.

    Every piece is built in sentence-internal case (lowercase unless it is a name, "I" or "O")
    and capitalized once, when it becomes a sentence, so prefixes like "Alas, " compose freely.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.verbs, frames = build_verbs()
        self.frames = {k: Pool(v, offset=10) for k, v in frames.items()}
        self.nouns = {
            "P": Pool(nouns(PERSONS)), "A": Pool(nouns(ANIMALS)), "T": Pool(nouns(THINGS)),
            "L": Pool(nouns(PLACES)), "N": Pool(nouns(NATURE)), "B": Pool(nouns(BODY)),
            "X": Pool(nouns(ABSTRACTS)),
        }
        self.mass = Pool(words(MASS))
        self.adj = Pool(words(ADJECTIVES), offset=12)
        self.manner = Pool(words(MANNER_ADVERBS))
        self.time = Pool(phrases(TIME_ADVERBS))
        self.freq = Pool(words(FREQ_ADVERBS))
        self.degree = Pool(words(DEGREE_ADVERBS))
        self.interj = Pool(phrases(INTERJECTIONS))
        self.numbers = Pool(phrases(NUMBERS))
        self.places = Pool(words(PLACE_NAMES))

    # -- noun phrases ------------------------------------------------------------------------

    def adjectives(self) -> str:
        """Zero, one or two adjectives, with a trailing space: "", "cold ", "most cold and grey "."""
        rng = self.rng
        r = rng.random()
        if r < 0.6:
            return ""
        a = self.adj.pick(rng)
        if r < 0.68:  # not "so" or "too", which take no article: not "a so kind lord"
            degree = ("very", "most", "right", "passing", "wondrous")[rng.randrange(5)]
            return f"{degree} {a} " if degree != a else a + " "
        if r < 0.93:
            return a + " "
        b = self.adj.pick(rng)
        if b == a:
            return a + " "
        return f"{a} and {b} " if rng.random() < 0.5 else f"{a}, {b} "

    def possessive(self, sp: Speech) -> str:
        r = self.rng.random()
        if r < 0.35:
            return "my"
        if r < 0.55:
            return "thy" if sp.thou else "your"
        return ("his", "her", "our", "their")[self.rng.randrange(4)]

    def np(self, cls: str, sp: Speech, number: str | None = None, depth: int = 0) -> tuple[str, str]:
        """A noun phrase of class `cls` and its verb agreement ("3s" or "3p")."""
        rng = self.rng
        if cls == "M":
            return self.mass_np(sp), "3s"
        if rng.random() < 0.12 and cls in sp.topics:
            sg, pl = sp.topics[cls]  # a scene keeps coming back to what it is about
        else:
            sg, pl = self.nouns[cls].pick(rng)
        if sg in ONE_OF_A_KIND or sg in NATURE_MASS:
            return self.one_of_a_kind(sg), "3s"
        if number is None:
            number = "3p" if rng.random() < 0.28 else "3s"
        head = self.adjectives() + (pl if number == "3p" else sg)
        r = rng.random()
        if number == "3s":
            if r < 0.3:
                det = "the"
            elif r < 0.5:
                det = article(head)
            elif r < 0.8:
                det = self.possessive(sp)
            else:  # every/no/each read oddly deep inside a phrase ("upon no field")
                dets = ("this", "this", "that", "yon", "every", "no", "each")
                det = dets[rng.randrange(7 if depth == 0 else 4)]
        elif r < 0.3:
            det = "the"
        elif r < 0.5:
            det = ""
        elif r < 0.78:
            det = self.possessive(sp)
        elif r < 0.88:
            dets = ("these", "those", "all the", "some", "many", "such", "no")
            det = dets[rng.randrange(7 if depth == 0 else 6)]
        else:
            det = self.numbers.pick(rng)
        if det in ("my", "thy") and head[0] in VOWELS and rng.random() < 0.5:
            det = "mine" if det == "my" else "thine"  # archaic before a vowel: mine eyes
        text = f"{det} {head}" if det else head
        if depth == 0:
            r = rng.random()
            if r < 0.08 and cls in "PTLX":
                text += " of " + self.of_target(sp)
            elif r < 0.13 and cls in "PA":
                text += " " + self.relative(number, sp)
        return text, number

    def one_of_a_kind(self, noun: str) -> str:
        """The sun, the moon, the thunder: always singular, never "a sun"."""
        rng = self.rng
        head = self.adjectives() + noun
        if noun in NATURE_MASS and rng.random() < 0.4:
            return head
        if rng.random() < 0.85:
            return "the " + head
        return ("this", "that", "yon")[rng.randrange(3)] + " " + head

    def of_target(self, sp: Speech) -> str:
        kind = weighted(self.rng, {"P": 3, "L": 2, "name": 2, "place": 1})
        if kind == "name":
            return self.name(sp)
        if kind == "place":
            return self.places.pick(self.rng)
        return self.np(kind, sp, depth=1)[0]

    def mass_np(self, sp: Speech) -> str:
        rng = self.rng
        noun = self.mass.pick(rng)
        r = rng.random()
        if r < 0.45:
            return noun
        if r < 0.6:
            return "the " + noun
        if r < 0.8:
            return f"{self.possessive(sp)} {noun}"
        if r < 0.9:
            return f"{self.adj.pick(rng)} {noun}"
        return f"{('such', 'much', 'no', 'all', 'some')[rng.randrange(5)]} {noun}"

    def name(self, sp: Speech) -> str:
        """Someone in the play other than the speaker, as the characters say it: "Lord Talbot"."""
        return sp.others[self.rng.randrange(len(sp.others))].spoken

    def relative(self, number: str, sp: Speech) -> str:
        v = self.frames["A:P"].pick(self.rng)
        form = v.s if number == "3s" else v.base
        return f"{'that' if self.rng.random() < 0.5 else 'who'} {form} {self.object('P', sp, depth=1)}"

    # -- subjects and objects ----------------------------------------------------------------

    def subject(self, kind: str, sp: Speech) -> tuple[str, str]:
        """A subject for a verb whose frame wants `kind` (A animate, N nature, X abstract)."""
        rng = self.rng
        if kind == "A":
            r = rng.random()
            if r < 0.58:
                pron = weighted(rng, {"I": 8, "you": 5, "he": 4, "she": 3, "we": 3, "they": 3})
                if pron == "you" and sp.thou:
                    pron = "thou"
                s, _, _, person = PRONOUNS[pron]
                return s, person
            if r < 0.69:
                return self.name(sp), "3s"
            if r < 0.72:  # two subjects agree in the plural: "the king and his son are"
                first = self.name(sp) if rng.random() < 0.5 else self.np("P", sp, depth=1)[0]
                return f"{first} and {self.np('P', sp, depth=1)[0]}", "3p"
            return self.np("P" if rng.random() < 0.85 else "A", sp)
        if kind == "N":
            return self.np("N", sp)
        if rng.random() < 0.45:
            return self.mass_np(sp), "3s"
        return self.np("X", sp)

    def object(self, kind: str, sp: Speech, depth: int = 0, subject: str = "", pronoun: bool = True) -> str:
        """An object of class `kind`. Never the subject's own pronoun ("we shall hear us" wants
        a reflexive the grammar does not make); `pronoun=False` for a second object ("them them")."""
        rng = self.rng
        if kind == "P":
            r = rng.random()
            if r < 0.5 and pronoun:
                pron = weighted(rng, {"you": 5, "me": 4, "him": 3, "her": 3, "us": 2, "them": 2})
                if pron == "you" and sp.thou:
                    pron = "thee"
                if REFLEXIVE.get(subject) != pron:
                    return pron
                r = 0.5
            if r < 0.6:
                return self.name(sp)
            return self.np("P", sp, depth=depth)[0]
        if kind in "TX" and pronoun and rng.random() < 0.2:
            return "it" if rng.random() < 0.75 else "them"
        if kind == "X":
            if rng.random() < 0.5:
                return self.mass_np(sp)
            return self.np("X", sp, depth=depth)[0]
        if kind == "L":
            if rng.random() < 0.2:
                return self.places.pick(rng)
            return self.np("L", sp, number="3s", depth=depth)[0]
        thing = self.np("T" if rng.random() < 0.85 else "B", sp, depth=depth)[0]
        if depth == 0 and rng.random() < 0.06:
            thing += " and " + self.np("T", sp, depth=1)[0]
        return thing

    # -- verbs -------------------------------------------------------------------------------

    def finite(self, v: Verb, person: str, tense: str, sp: Speech) -> tuple[str, str]:
        """(auxiliary, lexical verb): ("", "speaketh"), ("wilt", "speak"), ("hast", "spoken")."""
        rng = self.rng
        if tense == "pres":
            if v.base == "be":
                return "", {"1s": "am", "2t": "art", "3s": "is"}.get(person, "are")
            if person == "2t":
                return "", v.est
            if person == "3s":
                return "", v.eth if rng.random() < sp.eth else v.s
            return "", v.base
        if tense == "past":
            if v.base == "be":
                return "", {"1s": "was", "2t": "wast", "3s": "was"}.get(person, "were")
            if person == "2t":
                return ("", "hadst") if v.base == "have" else ("didst", v.base)
            return "", v.past
        if tense == "perf":
            aux = {"2t": "hast", "3s": "hath" if rng.random() < sp.eth else "has"}.get(person, "have")
            return aux, v.pp
        if tense == "prog":
            return {"1s": "am", "2t": "art", "3s": "is"}.get(person, "are"), v.ing
        return (MODALS[tense] if person == "2t" else tense), v.base

    def tense(self) -> str:
        return weighted(self.rng, {"pres": 40, "past": 24, "perf": 9, "prog": 3, "will": 8,
                                   "shall": 5, "may": 2, "must": 3, "can": 2, "would": 2,
                                   "should": 1, "could": 1, "might": 1})

    def predicate(self, frame: str, sp: Speech, depth: int, subject: str = "") -> str:
        """What follows a verb of this frame: its objects, and maybe an adverbial."""
        rng = self.rng
        obj = frame.split(":")[1]
        if obj in ("P", "T", "X", "L"):
            out = self.object(obj, sp, subject=subject)
        elif obj == "D":
            first = self.object("P", sp, depth=1, subject=subject)
            out = f"{first} {self.object(rng.choice('TTX'), sp, depth=1, pronoun=False)}"
        elif obj == "S":
            sub = self.clause(sp, depth + 1) if depth < 1 else self.copula(sp)
            out = ("that " if rng.random() < 0.4 else "") + sub
        elif obj == "V":
            f2 = weighted(rng, {"A:T": 3, "A:P": 3, "A:X": 2, "A:L": 1, "A:-": 1})
            out = f"to {self.frames[f2].pick(rng).base} {self.predicate(f2, sp, depth + 1, subject)}".rstrip()
        elif obj == "go":
            out = self.motion_target(sp)
        else:
            out = ""
        if obj == "S":
            return out
        r = rng.random()
        if r < 0.1:
            out += " " + self.manner.pick(rng)
        elif r < 0.21 and obj != "go":
            out += " " + self.place_pp(sp)
        elif r < 0.27:
            out += " " + self.time.pick(rng)
        elif r < 0.37:
            out += " " + self.with_pp(sp)
        elif r < 0.43:
            out += " " + self.for_pp(sp)
        return out.strip()

    def with_pp(self, sp: Speech) -> str:
        """Company, instrument or manner: "with me", "with a sword", "with all my heart"."""
        rng = self.rng
        r = rng.random()
        if r < 0.35:  # no pronoun: "love me with me" is too easy to make
            return "with " + self.object("P", sp, depth=1, pronoun=False)
        if r < 0.7:
            return "with " + self.np(rng.choice("TTB"), sp, depth=1)[0]
        return "with " + self.mass_np(sp)

    def for_pp(self, sp: Speech) -> str:
        """Cause or behalf: "for thy sake", "for love", "for the king"."""
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            return f"for {self.possessive(sp)} sake"
        if r < 0.6:
            return "for " + self.mass_np(sp)
        return "for " + self.object("P", sp, depth=1, pronoun=False)

    def motion_target(self, sp: Speech) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.1:
            return ("home", "hence", "away", "forth", "hither", "thither", "abroad")[rng.randrange(7)]
        prep = weighted(rng, {"to": 6, "from": 2, "into": 2, "toward": 1, "through": 1,
                              "unto": 1, "out of": 1, "across": 1, "along": 1, "beyond": 1})
        if r < 0.3:
            return f"{prep} {self.places.pick(rng)}"
        return f"{prep} {self.np(rng.choice('LLN'), sp, number='3s', depth=1)[0]}"

    def place_pp(self, sp: Speech) -> str:
        rng = self.rng
        prep = weighted(rng, {"in": 5, "at": 2, "by": 2, "upon": 2, "beneath": 1, "within": 1,
                              "under": 1, "near": 1, "before": 1, "behind": 1, "beside": 1})
        if rng.random() < 0.15:
            return f"{prep} {self.places.pick(rng)}"
        return f"{prep} {self.np(rng.choice('LLLN'), sp, number='3s', depth=1)[0]}"

    # -- clauses -----------------------------------------------------------------------------

    def clause(self, sp: Speech, depth: int = 0, tense: str | None = None) -> str:
        """A declarative clause with agreement: "the river runs to the sea"."""
        rng = self.rng
        if rng.random() < 0.2:
            return self.copula(sp, tense)
        frame = weighted(rng, {"A:-": 8, "A:go": 5, "N:-": 5, "A:T": 10, "A:P": 12, "A:X": 9,
                               "X:P": 4, "N:P": 2, "A:L": 4, "A:D": 3, "A:S": 4 if depth < 1 else 0,
                               "A:V": 3})
        v = self.frames[frame].pick(rng)
        subj, person = self.subject(frame[0], sp)
        tense = tense or self.tense()
        aux, lex = self.finite(v, person, tense, sp)
        if not aux and tense in ("pres", "past") and v.base not in ("be", "have") and rng.random() < 0.08:
            # Periphrastic do, common in Early Modern English: "I do beseech you", "he doth love".
            aux, lex = self.finite(self.verbs["do"], person, tense, sp)[1], v.base
        rest = self.predicate(frame, sp, depth, subj)
        if frame != "A:S" and frame[0] == "A" and rng.random() < 0.1:
            # Two verbs, one subject: "I will go and fetch the sword", "he weeps and prays".
            f2 = weighted(rng, {"A:T": 3, "A:P": 3, "A:X": 2, "A:-": 2, "A:go": 2})
            v2 = self.frames[f2].pick(rng)
            if v2 is not v:
                lex2 = self.finite(v2, person, tense, sp)[1]
                rest = " ".join(p for p in (rest, "and", lex2, self.predicate(f2, sp, depth + 1, subj)) if p)
        if rng.random() < 0.08:
            lex = f"{self.freq.pick(rng)} {lex}" if aux or lex != v.past or rng.random() < 0.5 else lex
        if rng.random() < 0.1:
            if aux:
                aux = "cannot" if aux == "can" else aux + " not"
            elif lex in ("am", "art", "is", "are", "was", "wast", "were") or " " in lex:
                lex += " not"
            elif frame != "A:D" and rest.split(" ")[0] in OBJECT_PRONOUNS:
                # Archaic negation puts "not" after the verb, or after a pronoun object:
                # "I love thee not".
                first, _, tail = rest.partition(" ")
                rest = f"{first} not {tail}".rstrip()
            else:
                lex += " not"
        return " ".join(p for p in (subj, aux, lex, rest) if p)

    def complement(self, sp: Speech, person: str) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.45:
            adj = self.adj.pick(rng)
            degree = self.degree.pick(rng) if rng.random() < 0.3 else adj
            return adj if degree == adj else f"{degree} {adj}"
        if r < 0.6:
            return f"as {self.adj.pick(rng)} as {self.np(rng.choice('NTAP'), sp, depth=1)[0]}"
        if r < 0.82:  # "a traitor", "the king's men" style: no every/no/yon here
            sg, pl = self.nouns["P"].pick(rng)
            if person in ("1p", "3p", "2y"):
                return self.adjectives() + pl
            head = self.adjectives() + sg
            return f"{article(head)} {head}" if rng.random() < 0.7 else f"{self.possessive(sp)} {head}"
        return self.place_pp(sp)

    def copula(self, sp: Speech, tense: str | None = None) -> str:
        rng = self.rng
        subj, person = self.subject(rng.choice("AANX"), sp)
        tense = tense or weighted(rng, {"pres": 6, "past": 3, "will": 1, "must": 1, "perf": 1})
        aux, lex = self.finite(self.verbs["be"], person, tense, sp)
        if rng.random() < 0.08:
            lex += " not"
        return " ".join(p for p in (subj, aux, lex, self.complement(sp, person)) if p)

    # -- sentence kinds ----------------------------------------------------------------------

    def question(self, sp: Speech) -> str:
        rng = self.rng
        you, you_person = ("thou", "2t") if sp.thou else ("you", "2y")

        def who() -> tuple[str, str]:
            return (you, you_person) if rng.random() < 0.6 else self.subject("A", sp)

        r = rng.random()
        if r < 0.22:  # why dost thou weep?
            wh = weighted(rng, {"why": 4, "where": 2, "when": 1, "how": 2, "wherefore": 1})
            frame = weighted(rng, {"A:-": 3, "A:T": 3, "A:P": 3, "A:X": 2, "A:go": 2})
            v = self.frames[frame].pick(rng)
            subj, person = who()
            tense = rng.choice(("pres", "pres", "past", "will", "shall", "perf"))
            if tense in ("pres", "past"):
                aux, lex = self.finite(self.verbs["do"], person, tense, sp)[1], v.base
            else:
                aux, lex = self.finite(v, person, tense, sp)
            return " ".join(p for p in (wh, aux, subj, lex, self.predicate(frame, sp, 1, subj)) if p) + "?"
        if r < 0.38:  # what dost thou fear? whom will you marry?
            wh, frame = rng.choice((("what", "A:X"), ("what", "A:T"), ("whom", "A:P")))
            v = self.frames[frame].pick(rng)
            subj, person = who()
            if rng.random() < 0.4:
                return f"{wh} {self.finite(self.verbs['do'], person, 'pres', sp)[1]} {subj} {v.base}?"
            aux, lex = self.finite(v, person, rng.choice(("will", "shall", "perf", "would")), sp)
            return f"{wh} {aux} {subj} {lex}?"
        if r < 0.5:  # who betrays the king?
            frame = rng.choice(("A:P", "A:T", "A:X", "A:L"))
            v = self.frames[frame].pick(rng)
            aux, lex = self.finite(v, "3s", rng.choice(("pres", "past", "perf", "will")), sp)
            return " ".join(p for p in ("who", aux, lex, self.predicate(frame, sp, 1)) if p) + "?"
        if r < 0.66:  # art thou mad? is the king in the garden?
            subj, person = (you, you_person) if rng.random() < 0.5 else self.subject(rng.choice("AAN"), sp)
            be = self.finite(self.verbs["be"], person, rng.choice(("pres", "pres", "past")), sp)[1]
            return f"{be} {subj} {self.complement(sp, person)}?"
        if r < 0.82:  # knowest thou this ring? speak you of war?
            frame = rng.choice(("A:T", "A:P", "A:X", "A:-"))
            v = self.frames[frame].pick(rng)
            rest = self.predicate(frame, sp, 1, you)
            return " ".join(p for p in (v.est if sp.thou else v.base, you, rest) if p) + "?"
        frame = rng.choice(("A:T", "A:P", "A:X", "A:go", "A:L"))  # wilt thou come? hast thou seen him?
        v = self.frames[frame].pick(rng)
        subj, person = who()
        aux, lex = self.finite(v, person, rng.choice(("will", "shall", "perf", "can", "must")), sp)
        return " ".join(p for p in (aux, subj, lex, self.predicate(frame, sp, 1, subj)) if p) + "?"

    def imperative(self, sp: Speech) -> str:
        rng = self.rng
        if rng.random() < 0.15:
            who = weighted(rng, {"us": 5, "me": 2, "him": 1, "her": 1, "them": 1})
            frame = rng.choice(("A:go", "A:T", "A:P", "A:X", "A:L", "A:-"))
            v = self.frames[frame].pick(rng)
            return f"let {who} {v.base} {self.predicate(frame, sp, 1)}".rstrip() + "."
        frame = weighted(rng, {"A:go": 3, "A:T": 3, "A:P": 3, "A:X": 2, "A:D": 1, "A:-": 1})
        head = self.frames[frame].pick(rng).base
        while head == "have":  # "have sorrow." is no command
            head = self.frames[frame].pick(rng).base
        if rng.random() < 0.12:
            head = f"{head} not" if frame == "A:-" and rng.random() < 0.5 else f"do not {head}"
        text = f"{head} {self.predicate(frame, sp, 1)}".rstrip()
        tail = rng.random()
        if tail < 0.15:
            return text + (", I pray thee." if sp.thou else ", I pray you.")
        return text + ("!" if tail < 0.4 else ".")

    def exclamation(self, sp: Speech) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            return f"O {self.np(rng.choice('NXPLB'), sp, number=rng.choice(('3s', '3p')), depth=1)[0]}!"
        if r < 0.45:
            return f"O {self.mass.pick(rng)}, {self.mass.pick(rng)}!"
        if r < 0.65:
            subj, person = self.subject(rng.choice("AN"), sp)
            be = self.finite(self.verbs["be"], person, "pres", sp)[1]
            return f"how {self.adj.pick(rng)} {subj} {be}!"
        if r < 0.8:
            who = self.name(sp)
            if who.startswith("the ") or rng.random() < 0.6:
                who = self.adjectives() + self.nouns["P"].pick(rng)[0]
            return f"alas, poor {who}!"
        if r < 0.9:
            head = self.adjectives() + self.nouns[rng.choice("PXT")].pick(rng)[0]
            return f"what {article(head)} {head} is this!"
        return rng.choice(("woe is me!", "alas the day!", "fie upon it!", "O me!", "heaven forbid!",
                           "out, alas!", "away, away!", "a plague upon it!", "what, ho!",
                           "O, the pity of it!", "mercy on us!", "well said!", "hold, hold!"))

    def short_reply(self, sp: Speech) -> str:
        """The short replies that real dialogue is full of; already a whole sentence."""
        voc = self.vocative(sp)
        options = (
            f"Ay, {voc}.", f"No, {voc}.", f"Nay, {voc}.", "I will.", "I know not.", "Even so.",
            "It is so.", "Not I.", "Say on.", "Speak.", "Farewell.", "Away!", "Peace!", "Indeed?",
            f"Good morrow, {voc}.", f"Good night, {voc}.", "Go to, go to.", "'Tis true.",
            "I warrant you.", "Well, well.", "What say you?", "How now?", "Who's there?",
            "Is it so?", f"Farewell, {voc}.", "With all my heart.", "I thank you.", "Most willingly.",
            "Be it so.", f"I am glad of it, {voc}.", "Come, come.", "Let it be so.", "Why, then?",
            "Hark you.", f"Welcome, {voc}.", "No more.", "So be it.", "Not a word.", "I obey.",
        )
        return options[self.rng.randrange(len(options))]

    def vocative(self, sp: Speech) -> str:
        """How the speaker addresses the addressee, by rank and sex: "my liege", "sweet Viola"."""
        a = sp.addressee
        male = a.sex == "m"
        last = a.spoken.split()[-1]
        if a.rank == "royal":
            opts = ("my liege", "my sovereign", "your majesty",
                    "my gracious lord" if male else "gracious madam", "my lord" if male else "madam")
        elif a.rank == "noble":
            opts = (("my lord", "good my lord", "sir", "noble " + last) if male
                    else ("madam", "my lady", "sweet lady", "good madam"))
        elif a.rank == "gentle":
            opts = (("sir", "good " + a.spoken, "signior", a.spoken, "my friend") if male
                    else ("lady", "sweet " + a.spoken, "fair " + a.spoken, a.spoken, "gentle lady"))
        elif a.role == "friar":
            opts = ("holy father", "good friar", "father")
        else:
            opts = (("sirrah", "good fellow", "friend", "knave") if male
                    else ("good woman", "nurse", "mistress"))
        return opts[self.rng.randrange(len(opts))]

    def joined(self, sp: Speech) -> str:
        """Two clauses: coordinated (", but ") or one subordinate to the other ("If ..., ...")."""
        rng = self.rng
        if rng.random() < 0.55:
            conj = weighted(rng, {", and ": 5, ", but ": 4, ", for ": 3, ", yet ": 2, "; ": 2,
                                  ", or ": 1, ": ": 1, ", and so ": 1})
            return self.clause(sp) + conj + self.clause(sp)
        sub = weighted(rng, {"if": 4, "when": 3, "though": 2, "since": 1, "while": 1, "ere": 1,
                             "unless": 1, "until": 1, "before": 1, "as": 1, "now that": 1})
        conditional = sub in ("if", "unless", "until", "ere")
        inner = self.clause(sp, tense="pres" if conditional else None)
        main_tense = rng.choice(("will", "shall", "pres", "must", "may")) if conditional else None
        main = self.clause(sp, tense=main_tense)
        lead = ", yet " if sub == "though" and rng.random() < 0.5 else ", "
        return f"{sub} {inner}{lead}{main}"

    def sentence(self, sp: Speech, first: bool) -> str:
        """One sentence, capitalized and punctuated, sometimes opened by an address or an oath."""
        rng = self.rng
        kind = weighted(rng, {"clause": 30, "joined": 25, "question": 16, "imperative": 9,
                              "exclamation": 5, "short": 4, "there": 3, "tis": 3, "proverb": 2})
        if kind == "short":
            return self.short_reply(sp)
        if kind == "question":
            text = self.question(sp)
        elif kind == "imperative":
            text = self.imperative(sp)
        elif kind == "exclamation":
            text = self.exclamation(sp)
        else:
            if kind == "joined":
                body = self.joined(sp)
            elif kind == "there":
                np, person = self.np(rng.choice("PATX"), sp)
                be = {"3s": ("is", "was"), "3p": ("are", "were")}[person][rng.randrange(2)]
                body = f"there {be} {np} {self.place_pp(sp)}"
            elif kind == "tis":
                body = rng.choice(("'tis", "'twas", "it is", "'twill be")) + " " + self.complement(sp, "3s")
            elif kind == "proverb":
                frame = rng.choice(("A:T", "A:P", "A:X"))
                v = self.frames[frame].pick(rng)
                then_frame = rng.choice(("A:T", "A:X", "A:-"))
                then = self.frames[then_frame].pick(rng).base
                adv = ("never ", "not ", "soon ", "", "")[rng.randrange(5)]
                body = f"he that {v.s} {self.object(frame[2], sp, 1)} shall {adv}{then}"
                if then_frame != "A:-":
                    body += " " + self.object(then_frame[2], sp, 1)
            else:
                body = self.clause(sp)
                if not first and rng.random() < 0.15:  # speech runs on from the last sentence
                    body = f"{('and', 'and', 'but', 'for', 'then', 'so', 'and yet')[rng.randrange(7)]} {body}"
            text = body + ("!" if rng.random() < 0.08 else ".")
        r = rng.random()
        if first and r < 0.25:
            text = f"{self.vocative(sp)}, {text}"
        elif r < 0.36 and kind != "exclamation":
            text = f"{self.interj.pick(rng)}, {text}"
        return cap(text)


def phrases(text: str) -> list[str]:
    """The entries of a "|"-separated list whose entries may be several words."""
    return list(dict.fromkeys(p.strip() for p in text.replace("\n", " ").split("|") if p.strip()))


# ---------------------------------------------------------------------------------------------
# The plays
# ---------------------------------------------------------------------------------------------

RANK = {"royal": 3, "noble": 2, "gentle": 1, "common": 0}
LINES_PER_SPEECH = {1: 20, 2: 24, 3: 21, 4: 15, 5: 11, 6: 9}
SCENE_ENDS = ("Exeunt.\n\n", "Exit.\n\n")  # all leave, or the last one does
MAX_LINE = 72  # a long sentence wraps here, as prose in a printed play does


class Playwright:
    """Writes whole plays: a title, the persons, five acts of scenes of speeches."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.g = Grammar(self.rng)
        self.characters = [Character(line) for line in CHARACTERS.split("\n") if line.strip()]

    def corpus(self, target: int = TARGET_BYTES) -> str:
        """Plays until `target` bytes, ending at the end of a scene."""
        out: list[str] = []
        size = 0
        while True:
            for chunk in self.play():
                out.append(chunk)
                size += len(chunk)
                if size >= target and chunk in SCENE_ENDS:
                    return "".join(out).rstrip("\n") + "\n"

    def cast(self) -> list[Character]:
        rng = self.rng
        by_rank: dict[str, list[Character]] = {r: [] for r in RANK}
        for c in self.characters:
            by_rank[c.rank].append(c)
        counts = {"royal": rng.randint(1, 3), "noble": rng.randint(2, 4),
                  "gentle": rng.randint(2, 4), "common": rng.randint(2, 4)}
        cast = []
        for rank, n in counts.items():
            pool = by_rank[rank]
            if rank == "royal":  # one king or queen per play, not three
                rulers = [c for c in pool if c.role in ("king", "queen")]
                heirs = [c for c in pool if c.role not in ("king", "queen")]
                pool = [rulers[rng.randrange(len(rulers))]] + rng.sample(heirs, 2)
                n = min(n, len(pool))
                cast += pool[:n]
            else:
                cast += rng.sample(pool, n)
        return cast

    def describe(self, c: Character, cast: list[Character], home: str) -> str:
        """The persons-list entry: who someone is, relative to the others ("daughter to Orsino")."""
        rng = self.rng
        ruler = cast[0]

        def one(cs: list[Character]) -> Character | None:
            cs = [o for o in cs if o is not c]
            return cs[rng.randrange(len(cs))] if cs else None

        if c is ruler:
            return f"{c.role} of {home}"
        if c.rank == "royal":
            return f"{'son' if c.sex == 'm' else 'daughter'} to {ruler.spoken}"
        betters = [o for o in cast if RANK[o.rank] > RANK[c.rank]]
        peers = [o for o in cast if o.rank == c.rank]
        options = [f"friend to {o.spoken}" for o in (one(peers),) if o and o.sex == c.sex]
        if c.rank == "noble":
            if " OF " not in c.name and c.role in ("duke", "earl", "count", "countess", "duchess"):
                options.append(f"{c.role} of {self.g.places.pick(rng)}")
            options.append(f"a {'lord' if c.sex == 'm' else 'lady'} of {home}")
            service = "of the council of" if c.sex == "m" else "attending on"
            options.append(f"{service} {ruler.spoken}")
        elif c.rank == "gentle":
            elder = one([o for o in betters if o.rank == "noble"])
            if elder:
                options.append(f"{'son' if c.sex == 'm' else 'daughter'} to {elder.spoken}")
            lover = one([o for o in peers if o.sex != c.sex])
            if lover:
                options.append(f"in love with {lover.spoken}")
            options.append(f"a {'gentleman' if c.sex == 'm' else 'lady'} of {self.g.places.pick(rng)}")
        else:
            master = one(betters)
            options.append(f"{'nurse' if c.role == 'nurse' else 'servant'} to {master.spoken}")
            options.append(f"a {c.role} of {home}" if c.role != "messenger" else "a messenger")
        return options[rng.randrange(len(options))]

    def title(self, cast: list[Character], home: str) -> str:
        rng = self.rng
        g = self.g
        kind = rng.randrange(5)
        if kind == 0:
            return f"THE TRAGEDY OF {cast[0].name}"
        if kind == 1:
            return f"THE HISTORY OF {cast[0].name}"
        if kind == 2:
            return f"THE COMEDY OF THE {g.adj.pick(rng)} {g.nouns['T'].pick(rng)[0]}".upper()
        if kind == 3:
            return f"THE {g.adj.pick(rng)} {g.nouns['P'].pick(rng)[0]} OF {home}".upper()
        lovers = [c for c in cast if c.rank == "gentle"]
        return f"{lovers[0].name} AND {lovers[1].name}"

    def location(self, home: str) -> str:
        rng = self.rng
        g = self.g
        place = g.nouns["L"].pick(rng)[0]
        r = rng.random()
        if r < 0.4:
            where = f"{article(place).capitalize()} {place}"
        elif r < 0.7:
            other = g.nouns["L"].pick(rng)[0]
            prep = rng.choice(("in", "near", "before", "by"))
            where = f"{article(place).capitalize()} {place} {prep} the {other}"
        else:
            where = f"The {place}"
        return f"{home if rng.random() < 0.7 else g.places.pick(rng)}. {where}."

    def play(self):
        """Yield the text of one play in chunks: the heading, then directions and speeches."""
        rng = self.rng
        home = self.g.places.pick(rng)
        cast = self.cast()
        yield f"{self.title(cast, home)}\n\nPERSONS OF THE PLAY:\n"
        yield "".join(f"{c.name}, {self.describe(c, cast, home)}.\n" for c in cast) + "\n"
        for act in range(1, 6):
            yield f"ACT {roman(act)}\n\n"
            for scene in range(1, rng.randint(2, 4) + 1):
                yield from self.scene(scene, cast, home)

    def scene(self, number: int, cast: list[Character], home: str):
        rng = self.rng
        g = self.g
        yield f"SCENE {roman(number)}. {self.location(home)}\n\n"
        onstage = rng.sample(cast, rng.randint(2, min(4, len(cast))))
        onstage.sort(key=lambda c: -RANK[c.rank])  # the great enter first
        flourish = "Flourish. " if onstage[0].rank == "royal" and rng.random() < 0.4 else ""
        yield "\n".join(wrap(f"{flourish}Enter {names(onstage)}.")) + "\n\n"
        topics = {cls: g.nouns[cls].pick(rng) for cls in "PTXLN"}
        speaker, previous = onstage[0], None
        for _ in range(rng.randint(6, 24)):
            offstage = [c for c in cast if c not in onstage]
            if offstage and rng.random() < 0.06:
                newcomer = offstage[rng.randrange(len(offstage))]
                onstage.append(newcomer)
                yield f"Enter {newcomer.heading}.\n\n"
                speaker, previous = newcomer, speaker
            elif len(onstage) > 2 and rng.random() < 0.04:
                leaving = [c for c in onstage if c is not speaker and c is not previous]
                if leaving:
                    gone = leaving[rng.randrange(len(leaving))]
                    onstage.remove(gone)
                    yield f"Exit {gone.heading}.\n\n"
            if previous in onstage:
                addressee = previous
            else:
                addressee = rng.choice([c for c in onstage if c is not speaker])
            yield self.speech(speaker, addressee, cast, topics)
            # Dialogue mostly goes back and forth; sometimes a third voice cuts in.
            choices = [c for c in onstage if c is not speaker]
            nxt = addressee if rng.random() < 0.6 else choices[rng.randrange(len(choices))]
            speaker, previous = nxt, speaker
        yield SCENE_ENDS[len(onstage) == 1]

    def speech(self, speaker: Character, addressee: Character, cast: list[Character], topics: dict) -> str:
        rng = self.rng
        up = RANK[speaker.rank] - RANK[addressee.rank]
        # Thou to inferiors and intimates, you upward; -eth most in the stately and the rustic voice.
        thou = rng.random() < (0.8 if up > 0 else 0.6 if up == 0 else 0.25)
        eth = 0.5 if speaker.rank in ("royal", "common") else 0.35
        others = [c for c in cast if c is not speaker]
        sp = Speech(speaker, addressee, thou, eth, others, topics)
        n = weighted(rng, LINES_PER_SPEECH)
        lines: list[str] = []
        while len(lines) < n:
            s = self.g.sentence(sp, first=not lines)
            # Short sentences share a line, as they do in print.
            fits = lines and len(lines[-1]) < 40 and len(lines[-1]) + 1 + len(s) <= MAX_LINE
            if fits and rng.random() < 0.75:
                lines[-1] += " " + s
                continue
            wrapped = wrap(s)
            if lines and len(lines) + len(wrapped) > 6:
                break
            lines += wrapped
        return f"{speaker.heading}:\n" + "\n".join(lines) + "\n\n"


def names(cs: list[Character]) -> str:
    ns = [c.heading for c in cs]
    if len(ns) <= 2:
        return " and ".join(ns)
    return ", ".join(ns[:-1]) + ", and " + ns[-1]


def wrap(sentence: str) -> list[str]:
    """Break a long sentence into lines of at most MAX_LINE, balanced so that no last line holds a
    lone word, and after a comma where one is near."""
    lines = []
    while len(sentence) > MAX_LINE:
        k = -(-len(sentence) // MAX_LINE)  # lines still needed
        width = min(MAX_LINE, -(-len(sentence) // k) + 8)
        cut = sentence.rfind(", ", width // 2, width)
        cut = cut + 1 if cut >= 0 else sentence.rfind(" ", 0, width + 1)
        lines.append(sentence[:cut])
        sentence = sentence[cut + 1:]
    return lines + [sentence]


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def generate() -> bytes:
    """The corpus: the same bytes on every run, machine and Python version."""
    text = Playwright(SEED).corpus(TARGET_BYTES)
    return text.encode("ascii")  # a non-ASCII character in the lexicon fails loudly here


def stats(data: bytes) -> dict:
    counts = Counter(data)
    n = len(data)
    entropy = -sum(c / n * math.log(c / n) for c in counts.values())
    tokens = re.findall(rb"[a-z']+", data.lower())
    return {
        "bytes": n,
        "lines": data.count(b"\n"),
        "distinct_chars": len(counts),
        "unigram_entropy_nats": round(entropy, 4),
        "gzip9_ratio": round(len(gzip.compress(data, 9, mtime=0)) / n, 4),
        "words": len(tokens),
        "distinct_words": len(set(tokens)),
        "speeches": len(re.findall(rb"^[A-Z][A-Za-z ]+:\n", data, flags=re.M)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="where to write; a name ending in .gz is gzipped (level 9, mtime 0)")
    parser.add_argument("--stats", action="store_true", help="print size, entropy and gzip ratio")
    args = parser.parse_args(argv)
    data = generate()
    payload = gzip.compress(data, 9, mtime=0) if args.out.suffix == ".gz" else data
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(payload)
    if args.stats:
        for key, value in stats(data).items():
            print(f"{key}: {value}")
        print(f"written: {args.out} ({len(payload)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
