"""Lexicons and composition of social texts and search queries (Chinese, English, mixed).

A text is ``opener + clause [+ clause] [+ tail]``: the opener names the topic (a category,
e.g. ``这双sneakers``), the clauses and the tail carry the sentiment. Clauses come from a
general list per sentiment and from a topic-specific list per (topic, sentiment); lists
include negation and sarcasm (``不太好``, ``not great``, ``great, another broken zipper``)
so that the label is not a keyword lookup. All lists stay on the driver and enter Spark
as literal arrays.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from . import rand

SENTIMENTS = ("positive", "neutral", "negative")

# Topic openers, in catalog.CATEGORIES order.
OPENERS = (
    (
        "这双sneakers",
        "这双球鞋",
        "新买的跑鞋",
        "这双篮球鞋",
        "my new sneakers",
        "这款板鞋",
        "the running shoes",
        "这双AJ",
        "老爹鞋",
        "new kicks",
        "这双小白鞋",
        "限量款球鞋",
    ),
    (
        "这件外套",
        "新买的卫衣",
        "这条牛仔裤",
        "this hoodie",
        "这件T恤",
        "the dress",
        "这条连衣裙",
        "羽绒服",
        "my new jacket",
        "这件衬衫",
        "打底裤",
        "this sweater",
    ),
    (
        "这支口红",
        "这瓶精华",
        "新买的面霜",
        "this lipstick",
        "这个粉底液",
        "护肤套装",
        "the serum",
        "这款面膜",
        "眼影盘",
        "my skincare haul",
        "防晒霜",
        "this foundation",
    ),
    (
        "这个耳机",
        "新买的手机",
        "这台笔记本",
        "my new earbuds",
        "这个充电宝",
        "智能手表",
        "the laptop",
        "这款平板",
        "蓝牙音箱",
        "this phone",
        "机械键盘",
        "the smartwatch",
    ),
    (
        "这个台灯",
        "新买的床品",
        "这套餐具",
        "this pillow",
        "收纳盒",
        "扫地机器人",
        "the blender",
        "这个香薰",
        "四件套",
        "my new sofa cover",
        "空气炸锅",
        "this mug",
    ),
    (
        "这本书",
        "新买的小说",
        "这套绘本",
        "this novel",
        "这本教材",
        "the audiobook bundle",
        "推理小说",
        "这本传记",
        "漫画全集",
        "my book haul",
        "这本食谱",
        "this paperback",
    ),
    (
        "这个瑜伽垫",
        "新买的哑铃",
        "这套运动服",
        "my yoga mat",
        "跑步腰包",
        "羽毛球拍",
        "the tennis racket",
        "这个健身环",
        "骑行头盔",
        "these running shorts",
        "登山包",
        "this jump rope",
    ),
    (
        "这个乐高",
        "新买的玩具车",
        "这个拼图",
        "this lego set",
        "毛绒玩具",
        "盲盒",
        "the board game",
        "这套积木",
        "遥控飞机",
        "my kid's new toy",
        "芭比娃娃",
        "this puzzle",
    ),
)

CLAUSES = (
    (  # positive
        "超级舒服",
        "质量很好",
        "物超所值",
        "真的很喜欢",
        "颜值超高",
        "发货很快",
        "包装很精美",
        "客服态度很好",
        "推荐购买",
        "已经回购三次了",
        "性价比很高",
        "比想象中好",
        "一点都不踩雷",
        "完全没有色差",
        "做工很精致",
        "用着很顺手",
        "家人都说好看",
        "物流超快, 第二天就到了",
        "正品无疑",
        "好评!",
        "爱了爱了",
        "绝绝子",
        "love it!",
        "totally worth it",
        "super comfy",
        "highly recommend",
        "great quality",
        "fast delivery",
        "exactly as described",
        "would buy again",
        "not bad at all, actually great",
        "best purchase this year",
        "my new favourite",
        "10/10",
        "absolutely love the colour",
        "fits perfectly",
        "真的很nice",
        "质量很ok, 推荐",
        "颜值在线 love it",
        "yyds!",
        "性价比绝了 worth it",
        "回购无数次 still love it",
        "包装很用心 so cute",
        "一点也不失望",
        "没想到这么好用",
    ),
    (  # neutral
        "还行吧",
        "一般般",
        "中规中矩",
        "收到了, 还没用",
        "跟描述差不多",
        "价格正常",
        "凑单买的",
        "等用一段时间再来评价",
        "颜色和图片有点不一样, 不过能接受",
        "物流正常",
        "没什么特别的",
        "先给个中评",
        "和之前买的差不多",
        "看个人喜好吧",
        "it's ok",
        "nothing special",
        "as expected",
        "average quality",
        "received, will update later",
        "decent for the price",
        "meh, it's fine",
        "not sure yet",
        "does the job",
        "pretty standard",
        "还ok吧",
        "just so so",
        "一般般 nothing special",
        "凑合用 it's fine",
        "还没拆 will review later",
        "价格还行 average",
        "有好有坏吧",
        "好不好看见仁见智",
        "it is what it is",
        "说不上好也说不上坏",
    ),
    (  # negative
        "物流太慢了",
        "质量很差",
        "不太好",
        "和图片完全不一样",
        "做工粗糙",
        "客服不理人",
        "退货好麻烦",
        "用了两天就坏了",
        "有异味",
        "尺码严重不准",
        "不推荐购买",
        "再也不会买了",
        "性价比太低",
        "包装破损",
        "说好的正品呢?",
        "呵呵, 真是'快'递, 等了两周",
        "差评",
        "后悔买了",
        "没有宣传的那么好",
        "好评返现? 不存在的",
        "一言难尽",
        "disappointed",
        "not great",
        "waste of money",
        "broke after a week",
        "terrible quality",
        "not worth it",
        "never again",
        "doesn't fit at all",
        "customer service ignored me",
        "great, another broken zipper",
        "wow, arrived already scratched. thanks a lot",
        "would not recommend",
        "物流太慢了 disappointed",
        "质量不太行 not worth it",
        "退款好难 so annoying",
        "颜色发错了 seriously?",
        "客服说会处理 then nothing",
        "真的不太好用 not great",
        "踩雷了 waste of money",
        "太坑了 never again",
        "说是正品, yeah right",
        "号称防水? not even close",
        "便宜没好货 lesson learned",
    ),
)

# Topic-specific clauses, [topic][sentiment], topics in catalog.CATEGORIES order.
TOPIC_CLAUSES = (
    (
        ("脚感很软", "回弹超好", "上脚很帅", "great for running"),
        ("鞋码正常", "脚感一般", "sizing is standard"),
        ("磨脚", "开胶了", "鞋底太硬", "sole came off in a week"),
    ),
    (
        ("面料很舒服", "版型很好", "不起球", "fits true to size"),
        ("面料一般", "版型还行", "fabric is ok"),
        ("洗一次就缩水", "线头很多", "起球严重", "shrank after one wash"),
    ),
    (
        ("色号很正", "很滋润", "不拔干", "skin feels amazing"),
        ("香味一般", "效果还要观察", "texture is fine"),
        ("用了过敏", "爆痘了", "假货吧", "broke me out"),
    ),
    (
        ("续航很强", "音质很好", "运行很流畅", "battery lasts forever"),
        ("续航一般", "系统还行", "specs as advertised"),
        ("充不进电", "经常死机", "屏幕有坏点", "stopped charging after 3 days"),
    ),
    (
        ("很有质感", "安装很简单", "家里变好看了", "looks great in my room"),
        ("尺寸合适", "颜色还行", "does what it says"),
        ("有刺鼻味道", "一碰就碎", "安装说明看不懂", "arrived broken"),
    ),
    (
        ("内容很精彩", "印刷清晰", "一口气读完", "couldn't put it down"),
        ("内容一般", "翻译还可以", "an ok read"),
        ("盗版书吧", "缺页", "翻译太烂", "pages missing"),
    ),
    (
        ("很防滑", "很结实", "练完很爽", "perfect for my workouts"),
        ("重量合适", "一般般吧", "works for now"),
        ("用两次就裂了", "味道很大", "太滑了", "tore on the second use"),
    ),
    (
        ("孩子超喜欢", "做工精细", "拼起来很有成就感", "my kid loves it"),
        ("孩子玩了一会儿", "还行吧", "kids found it ok"),
        ("零件缺失", "有毛刺不安全", "孩子玩一次就坏了", "missing pieces, again"),
    ),
)

TAILS = (
    ("😍", "👍", "#好物分享", "!!!", "推荐给大家", "#种草", "❤️", "five stars"),
    ("🤔", "#日常", "...", "", "先这样", "we'll see"),
    ("😤", "🙄", "#避雷", "...", "大家别买", "#拔草", "one star", "smh"),
)

SEPARATORS = ("", " ", ", ", "，", "! ")

SEARCH_TERMS = (
    ("球鞋", "跑鞋", "sneakers", "nike", "篮球鞋", "aj1", "老爹鞋", "running shoes", "小白鞋"),
    ("卫衣", "外套", "hoodie", "连衣裙", "牛仔裤", "羽绒服", "t-shirt", "衬衫"),
    ("口红", "护肤", "精华", "lipstick", "面霜", "防晒", "粉底液", "面膜", "serum"),
    ("耳机", "手机", "earbuds", "笔记本电脑", "充电宝", "智能手表", "laptop", "平板"),
    ("台灯", "床品", "收纳", "空气炸锅", "扫地机器人", "pillow", "香薰", "餐具"),
    ("小说", "绘本", "books", "推理小说", "教材", "漫画", "传记", "bestseller"),
    ("瑜伽垫", "哑铃", "运动服", "yoga mat", "羽毛球拍", "登山包", "跳绳", "tennis"),
    ("乐高", "玩具车", "拼图", "lego", "毛绒玩具", "盲盒", "积木", "board game"),
)
SEARCH_MODIFIERS = ("", "", "", "推荐", "新款", "2026", "正品", "平替", "best", "女款", "男款")
DEAL_MODIFIERS = ("打折", "sale", "优惠券", "清仓", "特价", "coupon", "满减", "秒杀")


def _pick_in(lists, outer: Column, u: Column) -> Column:
    """``lists[outer][floor(u * len)]`` for ragged driver-side lists."""
    nested = F.expr("array(" + ", ".join(rand.array_sql(inner) for inner in lists) + ")")
    inner = F.element_at(nested, outer.cast("int") + F.lit(1))
    return F.element_at(inner, F.floor(u * F.size(inner)).cast("int") + F.lit(1))


def _pick(values, u: Column) -> Column:
    return F.element_at(F.expr(rand.array_sql(values)), F.floor(u * F.lit(len(values))).cast("int") + F.lit(1))


def compose(seed: int, keys, sentiment: Column, topic: Column) -> Column:
    """A social text for a sentiment index (0 pos, 1 neu, 2 neg) and a topic (category index).

    ``keys`` are the column names identifying the text (they salt every draw).
    """

    def u(salt):
        return rand.uniform(seed, "text_" + salt, *keys)

    topic_clause = _pick_in([c for t in TOPIC_CLAUSES for c in t], topic * F.lit(3) + sentiment, u("tc"))
    clause1 = F.when(u("use_topic") < F.lit(0.35), topic_clause).otherwise(_pick_in(CLAUSES, sentiment, u("c1")))
    clause2 = _pick_in(CLAUSES, sentiment, u("c2"))
    opener = _pick_in(OPENERS, topic, u("op"))
    # Gluing without a separator only reads naturally next to Chinese.
    sep1 = F.when(
        opener.rlike("[A-Za-z0-9]$") & clause1.rlike("^[A-Za-z0-9]"), _pick(SEPARATORS[1:], u("sep1"))
    ).otherwise(_pick(SEPARATORS, u("sep1")))
    text = F.concat(opener, sep1, clause1)
    text = F.when(u("two") < F.lit(0.5), F.concat(text, _pick(SEPARATORS[1:], u("sep2")), clause2)).otherwise(text)
    return F.trim(
        F.when(u("tail") < F.lit(0.4), F.concat(text, F.lit(" "), _pick_in(TAILS, sentiment, u("t")))).otherwise(text)
    )


def search_query(seed: int, keys, topic: Column, deal_seeker: Column) -> Column:
    """A search query about a topic; deal seekers often add a discount word."""

    def u(salt):
        return rand.uniform(seed, "search_" + salt, *keys)

    term = _pick_in(SEARCH_TERMS, topic, u("term"))
    modifier = F.when(deal_seeker & (u("deal") < F.lit(0.6)), _pick(DEAL_MODIFIERS, u("dm"))).otherwise(
        _pick(SEARCH_MODIFIERS, u("m"))
    )
    return F.trim(F.concat(term, F.lit(" "), modifier))
