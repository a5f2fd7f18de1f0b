"""What shoppers type into search: Vietnamese and English terms per category, and brand names.

Each query belongs to a category, so the views after a search stay mostly in that category.
"""

from __future__ import annotations

from collections.abc import Sequence

from cartsim.producer.catalog import Product

_TERMS: dict[str, tuple[str, ...]] = {
    "laptops": ("laptop", "laptop gaming", "laptop văn phòng", "macbook", "laptop mỏng nhẹ"),
    "phones": ("điện thoại", "iphone", "điện thoại 5g", "điện thoại giá rẻ", "samsung galaxy"),
    "tablets": ("máy tính bảng", "ipad", "tablet học online"),
    "audio": ("tai nghe bluetooth", "tai nghe chống ồn", "loa bluetooth", "airpods"),
    "wearables": ("đồng hồ thông minh", "apple watch", "vòng đeo tay thông minh"),
    "monitors": ("màn hình", "màn hình 27 inch", "màn hình gaming 144hz", "màn hình 4k"),
    "pc_components": ("card màn hình", "rtx 4060", "ssd 1tb", "ram ddr5", "cpu intel"),
    "accessories": ("chuột không dây", "bàn phím cơ", "sạc dự phòng", "cáp sạc type c"),
    "cameras": ("máy ảnh", "máy ảnh mirrorless", "gopro", "camera hành trình"),
    "smart_home": ("camera wifi", "robot hút bụi", "nhà thông minh", "router wifi 6"),
}


def search_queries(products: Sequence[Product]) -> tuple[tuple[str, str], ...]:
    """(query, category) pairs: the generic terms, then "<brand> <term>" for brands in stock."""
    queries = [(term, category) for category, terms in _TERMS.items() for term in terms]
    seen: set[tuple[str, str]] = set()
    for product in products:
        key = (product.brand, product.category)
        if key not in seen and product.category in _TERMS:
            seen.add(key)
            term = _TERMS[product.category][0]
            queries.append((f"{term} {product.brand.lower()}", product.category))
    return tuple(queries)
